//! The shutdown signal every service process waits for: SIGINT (Ctrl-C) or SIGTERM (systemd,
//! Kubernetes, `docker stop`), so an orchestrated stop drains like a Ctrl-C.

use tokio::signal::unix::{signal, SignalKind};

/// Resolves on the first SIGINT or SIGTERM, logging which. From the first call on, the process
/// no longer dies of either signal: the caller decides when to exit. Call it once, early (a
/// signal that arrives before the handlers are installed still kills the process).
///
/// # Panics
/// If the signal handlers cannot be installed (only outside a tokio runtime with signals).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut interrupt = signal(SignalKind::interrupt()).expect("installing the SIGINT handler");
    let mut terminate = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::info!(
            message = "Shutdown signal received; draining.",
            signal = name
        );
    }
}

//! The restart loop around a consumer session: run it until shutdown; when it fails, wait a
//! backoff and start a fresh one (which resumes from the committed offsets).

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::watch;

/// The delays between failed sessions: 100 ms, doubling, at most 5 s, never giving up.
pub fn session_backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_factor(2.0)
        .with_max_delay(MAX_DELAY)
        .without_max_times()
}

const MAX_DELAY: Duration = Duration::from_secs(5);

/// A session's view of the shutdown signal; cheap to clone.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Resolves once shutdown is requested (at once if it already was).
    pub async fn requested(&self) {
        let mut signal = self.0.clone();
        // The sender lives as long as `run_sessions`, which outlives every session.
        let _ = signal.wait_for(|requested| *requested).await;
    }

    /// Whether shutdown has been requested.
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }
}

/// Runs `session` until `shutdown` resolves: each session gets a [`Shutdown`] to stop (and
/// drain) on; a session that returns `Ok` ends the loop, one that fails is logged and, after
/// the next `backoff` delay, replaced by a new one. A shutdown during the delay ends the loop.
pub async fn run_sessions<E, F, S>(
    shutdown: impl Future<Output = ()>,
    backoff: ExponentialBuilder,
    mut session: F,
) where
    F: FnMut(Shutdown) -> S,
    S: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let (requested, token) = watch::channel(false);
    let token = Shutdown(token);
    let mut signal = std::pin::pin!(async move {
        shutdown.await;
        let _ = requested.send(true);
    });
    let mut signalled = false;
    let mut delays = backoff.build();
    loop {
        let mut attempt = std::pin::pin!(session(token.clone()));
        let result = loop {
            tokio::select! {
                result = &mut attempt => break result,
                () = &mut signal, if !signalled => signalled = true,
            }
        };
        let error = match result {
            Ok(()) => return,
            Err(error) => error,
        };
        if signalled {
            tracing::warn!(message = "Session failed while shutting down.", %error);
            return;
        }
        let delay = delays.next().unwrap_or(MAX_DELAY);
        tracing::warn!(message = "Session failed; restarting from the committed offsets.", %error, retry_in_ms = delay.as_millis() as u64);
        tokio::select! {
            () = &mut signal => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

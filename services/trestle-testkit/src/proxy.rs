//! A TCP proxy in front of a server (the local stack's Redis, say) that a test can close
//! (connections dropped, port refused) and reopen on the same port: the server "goes away" and
//! "comes back" without touching the shared stack.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Forwards a loopback port to a target until closed; see the module docs. Needs a Tokio
/// runtime; dropping it leaves the forwarding task to end with the runtime.
pub struct TcpProxy {
    addr: SocketAddr,
    target: SocketAddr,
    running: Option<JoinHandle<()>>,
}

impl TcpProxy {
    /// Starts forwarding a fresh loopback port to `target`.
    pub fn start(target: SocketAddr) -> TcpProxy {
        let listener = listen("127.0.0.1:0".parse().unwrap());
        let addr = listener.local_addr().unwrap();
        TcpProxy {
            addr,
            target,
            running: Some(tokio::spawn(forward(listener, target))),
        }
    }

    /// Starts forwarding a fresh loopback port to the local stack's Redis.
    pub fn to_redis() -> TcpProxy {
        TcpProxy::start(crate::redis_addr())
    }

    /// The port the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A Redis URL for the proxy: `redis://{addr}`.
    pub fn redis_url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Stops listening and drops every forwarded connection.
    pub async fn close(&mut self) {
        if let Some(task) = self.running.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens on the same port again.
    pub fn reopen(&mut self) {
        assert!(self.running.is_none(), "the proxy is open");
        let listener = listen(self.addr);
        self.running = Some(tokio::spawn(forward(listener, self.target)));
    }
}

fn listen(addr: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(addr).unwrap();
    socket.listen(64).unwrap()
}

/// Accepts and pipes connections; aborting it drops the listener and, with the `JoinSet`, every
/// connection.
async fn forward(listener: TcpListener, target: SocketAddr) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        connections.spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

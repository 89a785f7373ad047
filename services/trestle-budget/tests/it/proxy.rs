//! A TCP proxy in front of Redis that a test can close (connections dropped, port refused) and
//! reopen on the same port: Redis "goes away" and "comes back" without touching the shared stack.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

pub struct Proxy {
    addr: SocketAddr,
    target: SocketAddr,
    running: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Starts forwarding a fresh loopback port to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = listen("127.0.0.1:0".parse().unwrap());
        let addr = listener.local_addr().unwrap();
        Proxy {
            addr,
            target,
            running: Some(tokio::spawn(forward(listener, target))),
        }
    }

    pub fn url(&self) -> String {
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

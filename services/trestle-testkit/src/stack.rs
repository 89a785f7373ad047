//! Fails fast when the local stack is not running: a test run without `compose/stack up` stops
//! within seconds naming the service and what to do, instead of timing out in a client.

use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

/// Panics with "start it with compose/stack up" when nothing listens on `addr`. A connection
/// refused answers at once; an unreachable address gives up after two seconds. Each address is
/// probed once per test binary.
pub fn require(service: &'static str, addr: SocketAddr) {
    static KAFKA: OnceLock<Result<(), String>> = OnceLock::new();
    static POSTGRES: OnceLock<Result<(), String>> = OnceLock::new();
    static REDIS: OnceLock<Result<(), String>> = OnceLock::new();
    let once = match service {
        "Kafka" => &KAFKA,
        "PostgreSQL" => &POSTGRES,
        _ => &REDIS,
    };
    if let Err(message) = once.get_or_init(|| probe(service, addr)) {
        panic!("{message}");
    }
}

/// Connects to `addr` once; the error says which service is missing and how to start it.
pub fn probe(service: &str, addr: SocketAddr) -> Result<(), String> {
    TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map(drop)
        .map_err(|e| {
            format!(
                "the local stack is not running: {service} at {addr} did not accept a connection ({e}); start it with compose/stack up"
            )
        })
}

/// Kafka of the local stack must be listening.
pub fn require_kafka() {
    require("Kafka", local(crate::kafka_port()));
}

/// PostgreSQL of the local stack must be listening.
pub fn require_postgres() {
    require("PostgreSQL", local(crate::pg_port()));
}

/// Redis of the local stack must be listening.
pub fn require_redis() {
    require("Redis", crate::redis_addr());
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

//! Without the local stack, a test stops at once and says how to start it.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

#[test]
fn a_missing_service_fails_at_once_naming_compose_stack_up() {
    let free: SocketAddr = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    }; // closed: nothing listens there now
    let started = Instant::now();
    let error = trestle_testkit::stack::probe("Kafka", free).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3), "{error}");
    assert!(error.contains("Kafka"), "{error}");
    assert!(error.contains("start it with compose/stack up"), "{error}");
}

#[test]
fn a_listening_service_passes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    trestle_testkit::stack::probe("Redis", listener.local_addr().unwrap()).unwrap();
}

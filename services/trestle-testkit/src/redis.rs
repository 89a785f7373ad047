//! The local stack's Redis: its address, a plain client to look at what a script stored, and
//! the server's clock (the one Lua scripts read).

use std::net::SocketAddr;

use fred::prelude::*;

use crate::port;

/// Redis URL of the local stack.
pub fn redis_url() -> String {
    format!("redis://127.0.0.1:{}", redis_port())
}

/// Redis address of the local stack (for a [`TcpProxy`](crate::TcpProxy) in front of it).
pub fn redis_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], redis_port()))
}

fn redis_port() -> u16 {
    port("TRESTLE_REDIS_PORT", 16379)
}

/// A plain client on the local stack's Redis; fails the test if Redis does not answer.
pub async fn redis_client() -> Client {
    crate::stack::require_redis();
    let client = Client::new(Config::from_url(&redis_url()).unwrap(), None, None, None);
    client
        .init()
        .await
        .expect("Redis answers; is the stack up? run `compose/stack up`");
    client
}

/// Redis server time in microseconds since the epoch (`TIME`, the clock scripts use).
pub async fn redis_time_us(client: &Client) -> i64 {
    let time: Vec<i64> = client
        .eval(
            "local t = redis.call('TIME') return {tonumber(t[1]), tonumber(t[2])}",
            Vec::<String>::new(),
            Vec::<String>::new(),
        )
        .await
        .unwrap();
    time[0] * 1_000_000 + time[1]
}

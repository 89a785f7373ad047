//! Redis trouble: down at start, hung, gone and back, restarted without its script cache.
//!
//! How long a decision waits is measured on tokio's clock, paused in the tests that assert it
//! (Redis down, Redis hung: no real Redis answers there), so the bounds are exact and a loaded
//! machine cannot break them: only a timer (the configured timeouts) moves a paused clock.

use std::process::Stdio;
use std::time::Duration;

use fred::prelude::*;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::task::JoinSet;
use tokio::time::Instant;
use trestle_ratelimit::{names, Decision, Limit, RateLimiter, Source};
use trestle_redis::RedisOptions;
use trestle_testkit::{wait_for, Counters, TcpProxy};
use uuid::Uuid;

use crate::support::{limiter, options};

/// The paused clock's resolution: a timer may fire up to this late.
const TICK: Duration = Duration::from_millis(1);

/// A limit no test here exhausts: these tests are about where decisions come from.
const GENEROUS: Limit = Limit::new(60_000, 10_000);

fn outages(counters: &Counters) -> u64 {
    counters.get(names::REDIS_OUTAGES_TOTAL, &[])
}

async fn source_becomes(limiter: &RateLimiter, source: Source) {
    let company = Uuid::new_v4();
    wait_for(
        &format!("decisions from {source:?}"),
        Duration::from_secs(10),
        || {
            let limiter = limiter.clone();
            async move { (limiter.check(company, GENEROUS).await.source() == source).then_some(()) }
        },
    )
    .await;
}

/// Decides every few milliseconds for `span` (several probe intervals, so failed probes happen)
/// and checks that every decision is local and, given a `wait` (tests on a paused clock only),
/// that none waits longer than that for Redis.
async fn stays_local_for(limiter: &RateLimiter, span: Duration, wait: Option<Duration>) {
    let company = Uuid::new_v4();
    let started = Instant::now();
    while started.elapsed() < span {
        let decided = Instant::now();
        let decision = limiter.check(company, GENEROUS).await;
        let took = decided.elapsed();
        assert_eq!(decision.source(), Source::LocalFallback);
        if let Some(wait) = wait {
            assert!(took <= wait + TICK, "a decision took {took:?}");
        }
        // Lets time pass for the probe schedule; not a wait for a condition.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn falls_back_to_a_local_share_when_redis_is_unreachable() {
    let counters = Counters::default();
    let _recorder = metrics::set_default_local_recorder(&counters);
    let options = RedisOptions {
        redis_url: "redis://127.0.0.1:1".into(),
        connect_timeout_ms: 200,
        // Long, so a decision that waited for it would show: a down Redis must fail fast.
        timeout_ms: 1000,
        // Every decision may try Redis again: the worst case for latency.
        probe_interval_ms: 1,
        fallback_instances: 2,
        ..options("down")
    };

    let connect_timeout = Duration::from_millis(options.connect_timeout_ms);
    let timeout = Duration::from_millis(options.timeout_ms);
    let started = Instant::now();
    let limiter = limiter(&options).await; // Redis down is no error
    assert!(started.elapsed() <= connect_timeout + TICK);

    // Per instance: burst 5, one request per 2 s.
    let limit = Limit::new(60, 10);
    let company = Uuid::new_v4();
    let mut decisions = Vec::new();
    let mut slowest = Duration::ZERO;
    for _ in 0..8 {
        let started = Instant::now();
        decisions.push(limiter.check(company, limit).await);
        slowest = slowest.max(started.elapsed());
    }

    let allowed: Vec<Decision> = (0..5)
        .rev()
        .map(|remaining| Decision::Allowed {
            remaining,
            source: Source::LocalFallback,
        })
        .collect();
    assert_eq!(decisions[..5], allowed);
    for decision in &decisions[5..] {
        match *decision {
            Decision::Limited {
                retry_after_ms,
                source: Source::LocalFallback,
            } => assert!(
                retry_after_ms > 0 && retry_after_ms <= 2000,
                "{retry_after_ms}"
            ),
            other => panic!("expected a local limit, got {other:?}"),
        }
    }
    assert!(
        slowest < timeout,
        "no decision waits for a Redis that is down; the slowest took {slowest:?}"
    );
    let local = |outcome| {
        counters.get(
            names::DECISIONS_TOTAL,
            &[("source", "local_fallback"), ("outcome", outcome)],
        )
    };
    assert_eq!((local("allowed"), local("limited")), (5, 3));

    stays_local_for(&limiter, Duration::from_millis(100), Some(Duration::ZERO)).await;
    assert_eq!(outages(&counters), 1, "one outage, however many decisions");
}

/// A fake Redis for one connection: one read is one command (the client sends its handshake one
/// command at a time); scripts get no answer at all.
async fn answer_all_but_scripts(mut socket: TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        let n = match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let request = String::from_utf8_lossy(&buf[..n]).to_ascii_uppercase();
        let reply: &[u8] = if request.contains("EVAL") {
            continue;
        } else if request.contains("PING") {
            b"+PONG\r\n"
        } else if request.contains("CLIENT") {
            b":1\r\n"
        } else {
            b"$0\r\n\r\n"
        };
        if socket.write_all(reply).await.is_err() {
            return;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn bounds_each_decision_by_the_timeout_when_redis_hangs() {
    let counters = Counters::default();
    let _recorder = metrics::set_default_local_recorder(&counters);
    // Answers the client's connection handshake (PING, CLIENT ID, INFO), never a script:
    // connected, but hung.
    let hung = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = hung.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        while let Ok((socket, _)) = hung.accept().await {
            connections.spawn(answer_all_but_scripts(socket));
        }
    });
    let options = RedisOptions {
        redis_url: format!("redis://{addr}"),
        connect_timeout_ms: 300,
        probe_interval_ms: 1,
        ..options("hung")
    };
    let limiter = limiter(&options).await;
    assert_eq!(outages(&counters), 0, "connected: the PING was answered");

    let timeout = Duration::from_millis(options.timeout_ms);
    let started = Instant::now();
    let decision = limiter.check(Uuid::new_v4(), GENEROUS).await;
    let took = started.elapsed();
    assert_eq!(decision.source(), Source::LocalFallback);
    assert!(
        took >= timeout && took <= timeout + TICK,
        "Redis was asked and did not answer within the timeout; the decision took {took:?}"
    );
    // Later decisions probe (and time out) once per probe interval, or skip Redis.
    stays_local_for(&limiter, Duration::from_millis(300), Some(timeout)).await;
    assert_eq!(outages(&counters), 1);
    server.abort();
}

#[tokio::test]
async fn returns_to_redis_when_it_answers_again() {
    let counters = Counters::default();
    let _recorder = metrics::set_default_local_recorder(&counters);
    let mut proxy = TcpProxy::to_redis();
    let options = RedisOptions {
        redis_url: proxy.redis_url(),
        probe_interval_ms: 20,
        ..options("recovery")
    };
    let limiter = limiter(&options).await;
    let company = Uuid::new_v4();
    assert_eq!(
        limiter.check(company, GENEROUS).await.source(),
        Source::Redis
    );

    proxy.close().await;
    source_becomes(&limiter, Source::LocalFallback).await;
    stays_local_for(&limiter, Duration::from_millis(200), None).await;
    proxy.reopen();
    source_becomes(&limiter, Source::Redis).await;

    assert_eq!(outages(&counters), 1, "one outage, however many decisions");
    assert!(
        counters.get(
            names::DECISIONS_TOTAL,
            &[("source", "local_fallback"), ("outcome", "allowed")]
        ) >= 1
    );
}

/// A `redis-server` of this test's own (the Debian package the stack installs), killed on drop.
struct OwnRedis {
    port: u16,
    child: Child,
}

impl OwnRedis {
    async fn start(port: u16) -> OwnRedis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("run redis-server (compose/stack install provides it)");
        wait_for(
            "redis-server to answer PING",
            Duration::from_secs(10),
            || async move {
                let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
                stream.write_all(b"PING\r\n").await.ok()?;
                let mut reply = [0u8; 7];
                stream.read_exact(&mut reply).await.ok()?;
                (&reply == b"+PONG\r\n").then_some(())
            },
        )
        .await;
        OwnRedis { port, child }
    }

    async fn kill(mut self) -> u16 {
        self.child.kill().await.unwrap();
        self.port
    }

    async fn client(&self) -> Client {
        let url = format!("redis://127.0.0.1:{}", self.port);
        let client = Client::new(Config::from_url(&url).unwrap(), None, None, None);
        client.init().await.unwrap();
        client
    }
}

#[tokio::test]
async fn reloads_the_script_when_redis_restarts_empty() {
    let counters = Counters::default();
    let _recorder = metrics::set_default_local_recorder(&counters);
    let port = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        free.local_addr().unwrap().port()
    };
    let redis = OwnRedis::start(port).await;
    let options = RedisOptions {
        redis_url: format!("redis://127.0.0.1:{port}"),
        probe_interval_ms: 20,
        ..options("restart")
    };
    let limiter = limiter(&options).await;
    let sha = format!("{:x}", Sha1::digest(include_str!("../../src/gcra.lua")));
    let cached = |client: Client| {
        let sha = sha.clone();
        async move {
            let exists: Vec<bool> = client.script_exists(sha).await.unwrap();
            exists == [true]
        }
    };
    assert!(!cached(redis.client().await).await);

    // EVALSHA answers NOSCRIPT on a fresh server; the limiter falls back to EVAL.
    let limit = Limit::new(60, 10);
    assert_eq!(
        limiter.check(Uuid::new_v4(), limit).await,
        Decision::Allowed {
            remaining: 9,
            source: Source::Redis
        }
    );
    assert!(cached(redis.client().await).await, "EVAL cached the script");

    let port = redis.kill().await;
    source_becomes(&limiter, Source::LocalFallback).await;
    stays_local_for(&limiter, Duration::from_millis(200), None).await;
    let redis = OwnRedis::start(port).await;
    source_becomes(&limiter, Source::Redis).await;
    assert!(cached(redis.client().await).await);
    assert_eq!(outages(&counters), 1);
}

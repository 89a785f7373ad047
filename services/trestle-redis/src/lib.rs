//! The engine's one Redis: its options section ([`RedisOptions`], `[redis]` in the engine
//! config), one shared connection ([`Redis`]) used by the rate limits, the cost limits and the
//! response cache, with fail-fast per-call options, Lua scripts run in one round trip, and
//! outage tracking ([`Health`]).
//!
//! Each user of the connection keeps its own [`Health`]: each call asks
//! [`Health::should_try_redis`]; if so it [`run`](Redis::run)s its [`Script`], parses the raw
//! reply itself and reports the result to [`Health::succeeded`] or [`Health::failed`], which say
//! when an outage begins and ends so the user can log and count it once. What a limiter answers
//! while Redis does not (its local fallback), its keys, its replies and its metrics stay in the
//! limiter.
//!
//! ```no_run
//! # async fn demo() -> Result<(), trestle_redis::Error> {
//! use std::time::Instant;
//! use trestle_redis::{Health, RedisOptions, Script};
//!
//! let redis = RedisOptions::default().connect().await?;
//! let script = Script::new("return {1}");
//! let health = Health::new(redis.probe_interval());
//! if !redis.is_connected() {
//!     health.failed(Instant::now());
//! }
//! if health.should_try_redis(Instant::now()) {
//!     match redis.run(&script, &["some:key"], &[]).await {
//!         Ok(reply) => { health.succeeded(Instant::now()); /* parse `reply` */ }
//!         Err(_trouble) => { health.failed(Instant::now()); /* fall back */ }
//!     }
//! }
//! # Ok(()) }
//! ```

mod connection;
mod error;
mod health;
mod options;

pub use connection::{Redis, Script, Trouble};
pub use error::{redacted, Error};
/// A script argument (`Value::from(5_i64)`, `Value::from("text")`).
pub use fred::types::Value;
pub use health::Health;
pub use options::RedisOptions;

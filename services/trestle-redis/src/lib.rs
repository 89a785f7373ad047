//! Redis plumbing shared by the per-company limiters (trestle-ratelimit, trestle-budget): one
//! connection with fail-fast per-call options, a Lua script run in one round trip, outage
//! tracking.
//!
//! A limiter owns one [`ScriptConnection`] for its script and one [`Health`]. Each call asks
//! [`Health::should_try_redis`]; if so it [`run`](ScriptConnection::run)s the script, parses the
//! raw reply itself and reports the result to [`Health::succeeded`] or [`Health::failed`], which
//! say when an outage begins and ends so the limiter can log and count it once. What a limiter
//! answers while Redis does not (its local fallback), its keys, its replies and its metrics stay
//! in the limiter.
//!
//! ```no_run
//! # async fn demo() -> Result<(), trestle_redis::Error> {
//! use std::time::{Duration, Instant};
//! use trestle_redis::{Health, ScriptConnection, Settings};
//!
//! let settings = Settings {
//!     redis_url: "redis://127.0.0.1:16379".into(),
//!     timeout: Duration::from_millis(50),
//!     connect_timeout: Duration::from_secs(1),
//!     probe_interval: Duration::from_secs(1),
//! };
//! let (redis, trouble) = ScriptConnection::connect(&settings, "return {1}").await?;
//! let health = Health::new(settings.probe_interval);
//! if trouble.is_some() {
//!     health.failed(Instant::now());
//! }
//! if health.should_try_redis(Instant::now()) {
//!     match redis.run(&["some:key"], &[]).await {
//!         Ok(reply) => { health.succeeded(Instant::now()); /* parse `reply` */ }
//!         Err(_trouble) => { health.failed(Instant::now()); /* fall back */ }
//!     }
//! }
//! # Ok(()) }
//! ```

mod connection;
mod error;
mod health;

pub use connection::{ScriptConnection, Settings, Trouble};
pub use error::{redacted, Error};
/// A script argument (`Value::from(5_i64)`, `Value::from("text")`).
pub use fred::types::Value;
pub use health::Health;

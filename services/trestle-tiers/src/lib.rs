//! The subscription tiers and the one table of what each tier gets.
//!
//! [`Tier`] is a company's subscription tier (starter, professional, premium, enterprise);
//! [`PerTier<V>`] holds one value per tier; [`TierTable`] is the configurable table every
//! service reads its per-tier numbers from: the rate limit (trestle-ratelimit), the scheduler
//! weight and in-flight cap (trestle-scheduler), the monthly price and the included monthly
//! allowance of queries and AI cost (trestle-budget). Defaults are the seed's tier table:
//!
//! | tier | rpm | weight | in flight | price / month | AI cost / month | queries / month |
//! |---|---|---|---|---|---|---|
//! | starter | 10 | 1 | 2 | $99 | $20 | 4,800 |
//! | professional | 30 | 3 | 4 | $199 | $50 | 12,000 |
//! | premium | 60 | 6 | 8 | $349 | $80 | 19,200 |
//! | enterprise | 120 | 12 | 16 | $999 | $150 | 36,000 |
//!
//! The event contract's `trestle_events::Tier` has one more symbol, `unknown` (a tier a newer
//! schema added); `trestle-events` converts it into this [`Tier`] — `unknown` counts as starter,
//! the least privileged — in exactly one place. This crate has no dependency but serde, so the
//! limiters and the scheduler need not link the Avro code.

mod error;
mod table;
mod tier;
pub mod unlimited;

pub use error::Error;
pub use table::{TierSettings, TierTable, DEFAULT_QUERIES_PER_USD, MICRO_USD_PER_USD};
pub use tier::{PerTier, Tier};

//! [`Tier`] and [`PerTier`]: the subscription tiers the scheduler weighs and caps by, from
//! `trestle-tiers` (the engine fills the weights and caps from its tier table).

pub use trestle_tiers::{PerTier, Tier};

//! Behaviour of the fair scheduler: fairness, caps, ordering keys, offsets, flow control,
//! revocation, and a randomized model test. Pure logic, so every test is deterministic.

mod caps;
mod fairness;
mod flow;
mod model;
mod offsets;
mod ordering;
mod revoke;
mod support;

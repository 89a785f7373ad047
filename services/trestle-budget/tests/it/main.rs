//! Integration tests against the real local Redis (`compose/stack up`). Each test uses its own
//! key prefix and fresh company ids, so tests pass alone or in parallel.

mod complete;
mod fallback;
mod reserve;
mod support;

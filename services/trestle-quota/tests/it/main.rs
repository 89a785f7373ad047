//! Integration tests of the daily provider quotas against the real local Redis
//! (`compose/stack up`). Each test uses its own key prefix, so tests pass alone or in parallel.

mod counters;

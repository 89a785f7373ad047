//! Every metric name Trestle emits: `trestle_<name>_<unit>[_total]`.

pub const EVENTS_PUBLISHED_TOTAL: &str = "trestle_events_published_total";
pub const HTTP_REJECTED_TOTAL: &str = "trestle_http_rejected_total";
/// Timers fired by the timer service.
pub const TIMERS_FIRED_TOTAL: &str = "trestle_timers_fired_total";
/// How long after its due time (by the service's clock) a timer fired.
pub const TIMER_FIRE_DELAY_SECONDS: &str = "trestle_timer_fire_delay_seconds";
/// Requests the engine refused because their company is not provisioned, by standing.
pub const REQUESTS_UNPROVISIONED_TOTAL: &str = "trestle_engine_requests_unprovisioned_total";
/// Claims of requests on their request_id, by `outcome` (`owned` | `duplicate`: another
/// record owns it, no call and no outcome | `unchecked`: no shard | `error`: the shard failed).
pub const REQUEST_CLAIMS_TOTAL: &str = "trestle_engine_request_claims_total";
/// Provider calls the engine made from another cloud project than the company's own, by
/// `reason` (`maintenance` | `circuit_open` | `quota_exhausted`).
pub const REQUESTS_REROUTED_TOTAL: &str = "trestle_engine_requests_rerouted_total";
/// Answers the engine completed, labelled `path` (`chat` | `job_notebook` | `warm_notebook` |
/// `rag`): what each answer was made from (`AiRequestCompleted.answer_path`).
pub const ANSWERS_TOTAL: &str = "trestle_engine_answers_total";
/// Daily provider quota decisions, labelled `provider` (a configured quota's provider) and
/// `outcome` (`granted` | `exhausted` | `unchecked`: Redis did not answer, the call went ahead).
pub const QUOTA_DECISIONS_TOTAL: &str = "trestle_quota_decisions_total";
/// Redis outages as the quota counters saw them: counted once when one begins.
pub const QUOTA_REDIS_OUTAGES_TOTAL: &str = "trestle_quota_redis_outages_total";
pub const RECORDS_CONSUMED_TOTAL: &str = "trestle_records_consumed_total";
pub const DEAD_LETTERS_TOTAL: &str = "trestle_dead_letters_total";
pub const PROVIDER_CALLS_TOTAL: &str = "trestle_provider_calls_total";
pub const PROVIDER_LATENCY_SECONDS: &str = "trestle_provider_latency_seconds";
pub const TRANSACTIONS_TOTAL: &str = "trestle_transactions_total";
pub const PROJECTOR_BATCH_RECORDS: &str = "trestle_projector_batch_records";
pub const USAGE_DUPLICATES_TOTAL: &str = "trestle_usage_duplicates_total";
/// Rate-limit decisions, labelled `source` (`redis` | `local_fallback`) and `outcome`
/// (`allowed` | `limited`).
pub const RATELIMIT_DECISIONS_TOTAL: &str = "trestle_ratelimit_decisions_total";
/// Redis outages as a rate limiter saw them: counted once when one begins, not per decision.
pub const RATELIMIT_REDIS_OUTAGES_TOTAL: &str = "trestle_ratelimit_redis_outages_total";
/// Budget reservations, labelled `source` (`redis` | `local_fallback`) and `outcome`
/// (`granted` | `refused_queries` | `refused_cost`).
pub const BUDGET_RESERVATIONS_TOTAL: &str = "trestle_budget_reservations_total";
/// Budget settles and releases, labelled `kind` (`settle` | `release`) and `outcome`
/// (`applied` | `already_done` | `too_late` | `queued`).
pub const BUDGET_COMPLETIONS_TOTAL: &str = "trestle_budget_completions_total";
/// Budget reservations never settled or released whose hold Redis reclaimed after
/// `reservation_ttl_ms` (a caller crashed mid-call).
pub const BUDGET_RESERVATIONS_RECLAIMED_TOTAL: &str = "trestle_budget_reservations_reclaimed_total";
/// Redis outages as a budget handle saw them: counted once when one begins.
pub const BUDGET_REDIS_OUTAGES_TOTAL: &str = "trestle_budget_redis_outages_total";
/// Budget settles and releases queued during an outage and dropped because the queue was full:
/// their spend never reaches Redis.
pub const BUDGET_QUEUED_DROPPED_TOTAL: &str = "trestle_budget_queued_dropped_total";
/// Requests that took a step of the noisy-neighbour ladder or the all-down fallback, labelled
/// `step` (`cache` | `degraded` | `throttled` | `all_down_cache` | `all_down_failed`).
pub const LADDER_STEPS_TOTAL: &str = "trestle_ladder_steps_total";
/// Time an engine record waited in the fair scheduler, from poll to dispatch, labelled `tier`.
pub const SCHEDULER_QUEUE_SECONDS: &str = "trestle_scheduler_queue_seconds";
/// Records buffered in the fair scheduler (queued, not yet dispatched).
pub const SCHEDULER_BUFFERED_RECORDS: &str = "trestle_scheduler_buffered_records";
/// Records dispatched and not yet finished.
pub const SCHEDULER_IN_FLIGHT_RECORDS: &str = "trestle_scheduler_in_flight_records";
/// Partitions paused because their buffers are full.
pub const PARTITIONS_PAUSED_TOTAL: &str = "trestle_partitions_paused_total";
/// Circuit breaker transitions, labelled `provider` and `to`.
pub const BREAKER_TRANSITIONS_TOTAL: &str = "trestle_breaker_transitions_total";

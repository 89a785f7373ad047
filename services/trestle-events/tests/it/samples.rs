//! Deterministic sample events: at least one of every type, with every optional field set,
//! plus sparse variants (optional fields empty, other enum symbols). The first sample of each
//! type is the one written to `schemas/fixtures/`.

use chrono::{DateTime, Utc};
use trestle_events::*;
use uuid::Uuid;

fn uuid(n: u128) -> Uuid {
    // Fixed UUIDv7-shaped ids, so fixtures are reproducible.
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n)
}

fn at(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(1_767_225_600_000_000 + micros).expect("in range")
}

pub(crate) const COMPANY: Uuid = Uuid::from_u128(0x0f0e_0d0c_0b0a_4908_8706_0504_0302_0100);

/// A deterministic envelope; `n` varies the ids and time.
pub(crate) fn meta(n: u128) -> Meta {
    Meta {
        event_id: uuid(n),
        company_id: COMPANY,
        occurred_at: at(n as i64 * 1_000_001),
        correlation_id: uuid(1000),
        causation_id: uuid(1000 + n),
    }
}

fn platform_meta(n: u128) -> Meta {
    Meta {
        company_id: PLATFORM_COMPANY_ID,
        ..meta(n)
    }
}

/// One full sample of every event type, in `Event::NAMES` order.
pub(crate) fn full() -> Vec<Event> {
    let request = uuid(77);
    vec![
        CompanyRegistered {
            meta: meta(1),
            name: "Bau & Söhne GmbH \"Nord\"".into(),
            tier: Tier::Professional,
            country: "DE".into(),
            region: Region::Eu,
            isolation: IsolationLevel::Shared,
        }
        .into(),
        TenantProvisioned {
            meta: meta(2),
            region: Region::Eu,
            database_shard: 17,
            cloud_project_id: "trestle-eu-pool-003".into(),
            isolation_level: IsolationLevel::Shared,
            kb_notebook_id: "nb-kb-123".into(),
        }
        .into(),
        CompanyReady {
            meta: meta(154),
            kb_notebook_id: "nb-kb-123".into(),
            cloud_project_id: "trestle-eu-pool-003".into(),
            templates: 5,
        }
        .into(),
        ApiKeyIssued {
            meta: meta(157),
            key_id: "k4f9c2a7d1e3b5a60".into(),
            scopes: vec!["ai:write".into(), "jobs:read".into()],
            secret_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
                .into(),
            issued_by: "ops@example.com".into(),
        }
        .into(),
        ApiKeyRevoked {
            meta: meta(158),
            key_id: "k4f9c2a7d1e3b5a60".into(),
            revoked_by: "ops@example.com".into(),
            reason: "leaked in a CI log".into(),
        }
        .into(),
        AiRequestSubmitted {
            meta: meta(3),
            request_id: request,
            user_id: "user-42".into(),
            kind: AiRequestKind::NotebookQuery,
            prompt: "Which drawings show the east façade? 🏗️".into(),
            ordering_key: Some("job-9".into()),
            job_id: Some("job-9".into()),
            submitted_via: "web".into(),
            document_ids: vec!["doc-1".into(), "doc-2".into()],
        }
        .into(),
        AiRequestCompleted {
            meta: meta(4),
            request_id: request,
            provider: "notebooklm".into(),
            model: "notebooklm-1".into(),
            cloud_project_id: Some("trestle-eu-pool-003".into()),
            latency_ms: 2_345,
            degraded: true,
            answer: "Sheets A-201 and A-202.".into(),
            input_tokens: 1_234,
            output_tokens: 56,
            cost_micro_usd: 1_850,
            answer_path: AnswerPath::JobNotebook,
            cited_document_ids: vec!["doc-a-201".into(), "doc-a-202".into()],
        }
        .into(),
        AiRequestFailed {
            meta: meta(5),
            request_id: request,
            reason: "all providers unavailable".into(),
            providers_tried: vec!["notebooklm".into(), "gemini".into()],
            retryable: true,
        }
        .into(),
        AiRequestThrottled {
            meta: meta(6),
            request_id: request,
            reason: ThrottleReason::RateLimit,
            limit: "30 rpm (professional)".into(),
            retry_after_ms: Some(1_500),
        }
        .into(),
        AiRequestServedFromCache {
            meta: meta(7),
            request_id: request,
            cached_at: at(-86_400_000_000),
            limited_notice: true,
            answer: "Sheets A-201 and A-202.".into(),
        }
        .into(),
        AiRequestRerouted {
            meta: meta(40),
            request_id: request,
            provider: "gemini-pro".into(),
            from_cloud_project_id: "trestle-eu-pool-001".into(),
            to_cloud_project_id: "trestle-eu-pool-002".into(),
            reason: RerouteReason::Maintenance,
        }
        .into(),
        AiRequestsExpired {
            meta: meta(41),
            submitted_before: at(-7_776_000_000_000),
            retention_days: 90,
        }
        .into(),
        UsageRecorded {
            meta: meta(8),
            request_id: request,
            meter: Meter::NotebooklmQueries,
            quantity_milli: 1_000,
            cost_micro_usd: 2_000,
            price_book_version: 3,
            idempotency_key: UsageRecorded::idempotency_key_for(request, Meter::NotebooklmQueries),
        }
        .into(),
        JobCreated {
            meta: meta(150),
            job_id: "job-9".into(),
            name: "Harbour Street Residences".into(),
            created_by: "user-42".into(),
        }
        .into(),
        JobCompleted {
            meta: meta(151),
            job_id: "job-9".into(),
            completed_by: "user-42".into(),
        }
        .into(),
        JobReopened {
            meta: meta(152),
            job_id: "job-9".into(),
            reason: "warranty claim".into(),
        }
        .into(),
        JobTierDue {
            meta: meta(153),
            job_id: "job-9".into(),
            to_tier: NotebookTier::Warm,
            cause_id: uuid(151),
        }
        .into(),
        JobNotebookRequested {
            meta: meta(155),
            job_id: "job-9".into(),
            requested_by: "pm@example.com".into(),
        }
        .into(),
        KnowledgeBaseRequested {
            meta: meta(156),
            notebook_id: "nb-kb-123".into(),
        }
        .into(),
        DocumentAdded {
            meta: meta(9),
            document_id: "doc-1".into(),
            job_id: "job-9".into(),
            file_name: "A-201 East Elevation.pdf".into(),
            content_type: "application/pdf".into(),
            size_bytes: 4_718_592,
            page_count: Some(12),
            storage_uri: "gs://trestle-eu-docs/c/job-9/doc-1".into(),
            uploaded_by: "user-42".into(),
            title: "A-201 East Elevation".into(),
            kind: DocumentKind::Drawing,
            pages: vec![
                "East elevation of the residential block.".into(),
                "Cladding: fibre cement panels, 12 mm, on aluminium rails.".into(),
            ],
        }
        .into(),
        DocumentSyncRequested {
            meta: meta(10),
            document_id: "doc-1".into(),
            job_id: "job-9".into(),
            notebook_id: "nb-job-9".into(),
            attempt: 1,
        }
        .into(),
        DocumentSynced {
            meta: meta(11),
            document_id: "doc-1".into(),
            job_id: "job-9".into(),
            notebook_id: "nb-job-9".into(),
            attempt: 2,
            pages_indexed: 12,
            duration_ms: 8_100,
        }
        .into(),
        DocumentSyncFailed {
            meta: meta(12),
            document_id: "doc-1".into(),
            job_id: "job-9".into(),
            notebook_id: "nb-job-9".into(),
            attempt: 1,
            reason: "provider returned 503".into(),
            retryable: true,
        }
        .into(),
        NotebookCreated {
            meta: meta(13),
            notebook_id: "nb-job-9".into(),
            purpose: NotebookPurpose::Job,
            job_id: Some("job-9".into()),
            cloud_project_id: "trestle-eu-pool-003".into(),
            tier: NotebookTier::Hot,
        }
        .into(),
        NotebookDemoted {
            meta: meta(14),
            notebook_id: "nb-job-9".into(),
            job_id: Some("job-9".into()),
            from_tier: NotebookTier::Hot,
            to_tier: NotebookTier::Warm,
            target_notebook_id: Some("nb-warm-1".into()),
            reason: "job_completed".into(),
        }
        .into(),
        NotebookArchived {
            meta: meta(15),
            notebook_id: "nb-warm-1".into(),
            job_id: Some("job-9".into()),
            cloud_project_id: "trestle-eu-pool-003".into(),
            embeddings_kept: true,
            reason: "inactive_6_months".into(),
        }
        .into(),
        NotebookRecreated {
            meta: meta(16),
            notebook_id: "nb-job-9b".into(),
            previous_notebook_id: "nb-job-9".into(),
            job_id: Some("job-9".into()),
            cloud_project_id: "trestle-eu-pool-004".into(),
            reason: "on_demand_query".into(),
        }
        .into(),
        ProviderCircuitOpened {
            meta: platform_meta(17),
            provider: "gemini".into(),
            cloud_project_id: "trestle-eu-pool-003".into(),
            region: Region::Eu,
            failure_rate: 0.625,
            window_calls: 40,
        }
        .into(),
        ProviderCircuitHalfOpened {
            meta: platform_meta(18),
            provider: "gemini".into(),
            cloud_project_id: "trestle-eu-pool-003".into(),
            region: Region::Eu,
            failure_rate: 0.625,
            window_calls: 40,
        }
        .into(),
        ProviderCircuitClosed {
            meta: platform_meta(18),
            provider: "gemini".into(),
            cloud_project_id: "trestle-eu-pool-003".into(),
            region: Region::Eu,
            failure_rate: 0.01,
            window_calls: 100,
        }
        .into(),
        AlertRaised {
            meta: platform_meta(19),
            alert_id: uuid(900),
            kind: AlertKind::ErrorRate,
            severity: AlertSeverity::Page,
            subject: "shard-3".into(),
            value: 0.071,
            threshold: 0.05,
        }
        .into(),
        AlertResolved {
            meta: platform_meta(20),
            alert_id: uuid(900),
            kind: AlertKind::ErrorRate,
            severity: AlertSeverity::Page,
            subject: "shard-3".into(),
            value: 0.02,
            threshold: 0.05,
        }
        .into(),
        PriceBookPublished {
            meta: platform_meta(21),
            version: 2,
            effective_from: DateTime::from_timestamp_micros(1_767_225_600_000_000)
                .expect("2026-01-01"),
            starter_price_micro_usd: 99_000_000,
            professional_price_micro_usd: 199_000_000,
            premium_price_micro_usd: 349_000_000,
            enterprise_price_micro_usd: 999_000_000,
            starter_included_ai_cost_micro_usd: 20_000_000,
            professional_included_ai_cost_micro_usd: 50_000_000,
            premium_included_ai_cost_micro_usd: 80_000_000,
            enterprise_included_ai_cost_micro_usd: 150_000_000,
            overage_markup_bp: 5_000,
            notebooklm_queries_unit_micro_usd: 5_000,
            gemini_flash_queries_unit_micro_usd: 100,
            gemini_pro_queries_unit_micro_usd: 2_000,
            document_pages_unit_micro_usd: 20_000,
            vision_images_unit_micro_usd: 1_500,
            speech_minutes_unit_micro_usd: 16_000,
            tts_characters_unit_micro_usd: 4,
            embedding_tokens_unit_micro_usd: 1,
            note: "Seed tiers; «überziehung» at cost + 50 %".into(),
        }
        .into(),
        CloudProjectRegistered {
            meta: platform_meta(24),
            cloud_project_id: "trestle-eu-dedicated-007".into(),
            region: Region::Eu,
            notebook_limit: 50_000,
            dedicated_company_id: Some(COMPANY),
        }
        .into(),
        CloudProjectMaintenanceSet {
            meta: platform_meta(22),
            cloud_project_id: "trestle-eu-pool-003".into(),
            maintenance: true,
        }
        .into(),
        CloudProjectLimitSet {
            meta: platform_meta(23),
            cloud_project_id: "trestle-eu-pool-003".into(),
            notebook_limit: 40_000,
        }
        .into(),
        TimerScheduled {
            meta: meta(25),
            timer_id: "demote/job-4711".into(),
            due_at: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
            topic: "notebooks".into(),
            key: COMPANY.to_string(),
            event: vec![0xC3, 0x01, 0, 1, 2, 0xFF],
        }
        .into(),
        TimerCancelled {
            meta: meta(26),
            timer_id: "demote/job-4711".into(),
        }
        .into(),
        TimerFired {
            meta: meta(27),
            timer_id: "retry/sync-doc-9 «ü»".into(),
            fired_at: DateTime::from_timestamp_micros(1_790_000_000_999_999).unwrap(),
        }
        .into(),
        // Moves between shards (after the rest, so the indices above stay put).
        TenantMoveStarted {
            meta: meta(40),
            move_id: uuid(40),
            from_shard: 0,
            to_shard: 3,
            shard_count: 4,
        }
        .into(),
        TenantMoved {
            meta: meta(41),
            move_id: uuid(40),
            from_shard: 0,
            to_shard: 3,
            shard_count: 4,
            usage_records: 1_234_567,
            usage_digest: "0123456789abcdef0123456789abcdef".into(),
        }
        .into(),
    ]
}

/// Variants that take the other branches: empty options and arrays, other symbols, extremes.
pub(crate) fn sparse() -> Vec<Event> {
    vec![
        AiRequestSubmitted {
            meta: meta(101),
            request_id: uuid(78),
            user_id: String::new(),
            kind: AiRequestKind::TextToSpeech,
            prompt: String::new(),
            ordering_key: None,
            job_id: None,
            submitted_via: "api".into(),
            document_ids: vec![],
        }
        .into(),
        AiRequestCompleted {
            meta: meta(102),
            request_id: uuid(78),
            provider: "openai".into(),
            model: "gpt".into(),
            cloud_project_id: None,
            latency_ms: i64::MAX,
            degraded: false,
            answer: String::new(),
            input_tokens: 0,
            output_tokens: i64::MIN,
            cost_micro_usd: -1,
            answer_path: AnswerPath::Chat,
            cited_document_ids: vec![],
        }
        .into(),
        AiRequestFailed {
            meta: meta(103),
            request_id: uuid(78),
            reason: "x".into(),
            providers_tried: vec![],
            retryable: false,
        }
        .into(),
        AiRequestThrottled {
            meta: meta(104),
            request_id: uuid(78),
            reason: ThrottleReason::Unknown,
            limit: String::new(),
            retry_after_ms: None,
        }
        .into(),
        AiRequestServedFromCache {
            meta: Meta {
                occurred_at: DateTime::from_timestamp_micros(0).unwrap(),
                ..meta(105)
            },
            request_id: uuid(78),
            cached_at: DateTime::from_timestamp_micros(-1).unwrap(),
            limited_notice: false,
            answer: "cached".into(),
        }
        .into(),
        AiRequestRerouted {
            meta: meta(140),
            request_id: uuid(79),
            provider: String::new(),
            from_cloud_project_id: String::new(),
            to_cloud_project_id: "p".into(),
            reason: RerouteReason::QuotaExhausted,
        }
        .into(),
        AiRequestsExpired {
            meta: meta(141),
            submitted_before: DateTime::from_timestamp_micros(0).unwrap(),
            retention_days: 0,
        }
        .into(),
        DocumentAdded {
            meta: meta(106),
            document_id: "d".into(),
            job_id: "j".into(),
            file_name: "photo.jpg".into(),
            content_type: "image/jpeg".into(),
            size_bytes: 0,
            page_count: None,
            storage_uri: "gs://b/p".into(),
            uploaded_by: "u".into(),
            title: String::new(),
            kind: DocumentKind::PhotoLog,
            pages: Vec::new(),
        }
        .into(),
        NotebookCreated {
            meta: meta(107),
            notebook_id: "nb-kb".into(),
            purpose: NotebookPurpose::KnowledgeBase,
            job_id: None,
            cloud_project_id: "p".into(),
            tier: NotebookTier::Warm,
        }
        .into(),
        NotebookDemoted {
            meta: meta(108),
            notebook_id: "nb-warm-1".into(),
            job_id: None,
            from_tier: NotebookTier::Warm,
            to_tier: NotebookTier::Cold,
            target_notebook_id: None,
            reason: "inactive_6_months".into(),
        }
        .into(),
        UsageRecorded {
            meta: meta(109),
            request_id: uuid(78),
            meter: Meter::SpeechMinutes,
            quantity_milli: 1_500,
            cost_micro_usd: 9_000,
            price_book_version: i32::MAX,
            idempotency_key: UsageRecorded::idempotency_key_for(uuid(78), Meter::SpeechMinutes),
        }
        .into(),
        CompanyRegistered {
            meta: meta(111),
            name: "大成建設".into(),
            tier: Tier::Enterprise,
            country: "JP".into(),
            region: Region::Apac,
            isolation: IsolationLevel::Dedicated,
        }
        .into(),
        CloudProjectRegistered {
            meta: platform_meta(112),
            cloud_project_id: "trestle-us-pool-001".into(),
            region: Region::Us,
            notebook_limit: 0,
            dedicated_company_id: None,
        }
        .into(),
        TimerScheduled {
            meta: meta(113),
            timer_id: String::new(),
            due_at: DateTime::from_timestamp_micros(0).unwrap(),
            topic: "alerts".into(),
            key: String::new(),
            event: Vec::new(),
        }
        .into(),
        AlertRaised {
            meta: meta(110),
            alert_id: uuid(901),
            kind: AlertKind::NoisyNeighbour,
            severity: AlertSeverity::Warn,
            subject: COMPANY.to_string(),
            value: f64::MAX,
            threshold: -0.0,
        }
        .into(),
        AiRequestCompleted {
            meta: meta(160),
            request_id: uuid(79),
            provider: "gemini".into(),
            model: "gemini-pro-rag".into(),
            cloud_project_id: Some("us-1".into()),
            latency_ms: 0,
            degraded: true,
            answer: "Pour on Tuesday.".into(),
            input_tokens: 300,
            output_tokens: 12,
            cost_micro_usd: 2_500,
            answer_path: AnswerPath::Rag,
            cited_document_ids: vec!["rfi-17".into()],
        }
        .into(),
        AiRequestCompleted {
            meta: meta(161),
            request_id: uuid(80),
            provider: "notebooklm".into(),
            model: "notebooklm".into(),
            cloud_project_id: Some("eu-2".into()),
            latency_ms: 1,
            degraded: false,
            answer: "x".into(),
            input_tokens: 1,
            output_tokens: 1,
            cost_micro_usd: 0,
            answer_path: AnswerPath::WarmNotebook,
            cited_document_ids: vec!["a".into(), "b".into(), "c".into()],
        }
        .into(),
    ]
}

/// Every sample.
pub(crate) fn all() -> Vec<Event> {
    let mut all = full();
    all.extend(sparse());
    all
}

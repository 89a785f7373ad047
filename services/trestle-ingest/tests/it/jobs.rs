//! The job routes: each accepted call is its event on the company's partition of `jobs` with
//! the fields set; bad input gets a 4xx naming the problem and puts nothing on the log; a
//! company that is not provisioned is refused like an AI request; a job's documents are read
//! from the company's shard as the company, never another company's.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use trestle_events::{
    CompanyRegistered, DocumentKind, Event, IsolationLevel, Meta, Region, TenantProvisioned, Tier,
};
use trestle_ingest::{
    DocumentAccepted, DocumentState, IngestConfig, JobAccepted, JobDocumentsAnswer, Unprovisioned,
};
use trestle_kafka::EventProducer;
use trestle_testkit::{TestDb, TestTopics};
use uuid::Uuid;

use crate::start_with;

/// Ingest taking every company's jobs, reading no shard: these tests are about the calls.
fn accepting() -> IngestConfig {
    IngestConfig {
        unprovisioned: Unprovisioned::Accept,
        shards: vec![],
        ..IngestConfig::default()
    }
}

/// Sends `body` (JSON text, or none) with `method` to `url`; the status and the JSON answer.
async fn call(method: &str, url: &str, body: Option<String>) -> (u16, Value) {
    let http = reqwest::Client::new();
    let mut request = http
        .request(method.parse().unwrap(), url)
        .header("authorization", crate::bearer_for(url, body.as_deref()));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    let resp = request.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{method} {url}: a JSON answer, got {status} {text:?}"));
    (status, value)
}

async fn post(url: &str, body: Value) -> (u16, Value) {
    call("POST", url, Some(body.to_string())).await
}

/// Every record of the test's `jobs` topic, decoded, with the partition it is on.
async fn jobs_on_the_log(topics: &TestTopics, n: usize) -> Vec<(i32, Option<Vec<u8>>, Event)> {
    let records = trestle_testkit::read_topic(
        &topics.options,
        &topics.topic("jobs"),
        n,
        Duration::from_secs(30),
    )
    .await;
    records
        .into_iter()
        .map(|r| {
            let event = trestle_events::decode(r.payload.as_deref().unwrap()).unwrap();
            (r.partition, r.key, event)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_job_route_publishes_its_event_on_the_companys_partition_of_jobs() {
    let topics = TestTopics::create("ingest_jobs", 3).await.unwrap();
    let api = start_with(&topics, accepting()).await.api;
    let company = Uuid::now_v7();

    let (status, created) = post(
        &format!("{api}/v1/jobs"),
        json!({"company_id": company, "job_id": "tower-a.2025_1", "name": " Tower A ",
               "created_by": "u-7"}),
    )
    .await;
    assert_eq!(status, 202, "{created}");
    let created: JobAccepted = serde_json::from_value(created).unwrap();
    assert_eq!(
        (created.job_id.as_str(), created.status.as_str()),
        ("tower-a.2025_1", "accepted")
    );

    let job = format!("{api}/v1/jobs/tower-a.2025_1");
    let (status, text_doc) = post(
        &format!("{job}/documents"),
        json!({"company_id": company, "title": "RFI 12: slab edge", "kind": "rfi",
               "text": "Confirm the slab edge at grid C/4."}),
    )
    .await;
    assert_eq!(status, 202, "{text_doc}");
    let text_doc: DocumentAccepted = serde_json::from_value(text_doc).unwrap();
    assert_eq!(
        Uuid::parse_str(&text_doc.document_id)
            .unwrap()
            .get_version_num(),
        7,
        "a document without an id gets a UUIDv7"
    );
    let (status, paged_doc) = post(
        &format!("{job}/documents"),
        json!({"company_id": company, "document_id": "spec-03300", "title": "Cast-in-place concrete",
               "kind": "specification", "pages": ["Part 1 – General", "", "Part 2 – Products"],
               "file_name": "03300.pdf", "content_type": "application/pdf", "uploaded_by": "u-9"}),
    )
    .await;
    assert_eq!(status, 202, "{paged_doc}");
    let paged_doc: DocumentAccepted = serde_json::from_value(paged_doc).unwrap();
    assert_eq!(paged_doc.document_id, "spec-03300");

    let (status, completed) = post(
        &format!("{job}/complete"),
        json!({"company_id": company, "completed_by": "u-7"}),
    )
    .await;
    assert_eq!(status, 202, "{completed}");
    let completed: JobAccepted = serde_json::from_value(completed).unwrap();
    let (status, reopened) = post(
        &format!("{job}/reopen"),
        json!({"company_id": company, "reason": "punch list"}),
    )
    .await;
    assert_eq!(status, 202, "{reopened}");
    let reopened: JobAccepted = serde_json::from_value(reopened).unwrap();
    // The optional fields may be left out.
    let (status, _) = post(&format!("{job}/complete"), json!({"company_id": company})).await;
    assert_eq!(status, 202);
    let (status, requested) = post(
        &format!("{job}/notebook"),
        json!({"company_id": company, "requested_by": "u-3"}),
    )
    .await;
    assert_eq!(status, 202, "{requested}");
    let requested: JobAccepted = serde_json::from_value(requested).unwrap();

    let records = jobs_on_the_log(&topics, 7).await;
    assert_eq!(records.len(), 7);
    let key = company.to_string();
    let partition = trestle_kafka::partition_for_key(key.as_bytes(), 3);
    for (on, record_key, event) in &records {
        assert_eq!(
            record_key.as_deref(),
            Some(key.as_bytes()),
            "{}",
            event.name()
        );
        assert_eq!(
            *on,
            partition,
            "{} on the company's partition",
            event.name()
        );
        assert_eq!(event.meta().company_id, company);
    }
    let events: Vec<&Event> = records.iter().map(|(_, _, e)| e).collect();
    let Event::JobCreated(e) = events[0] else {
        panic!("JobCreated first, got {}", events[0].name())
    };
    assert_eq!(e.meta.event_id, created.event_id);
    assert_eq!(
        (e.job_id.as_str(), e.name.as_str(), e.created_by.as_str()),
        ("tower-a.2025_1", "Tower A", "u-7")
    );
    let Event::DocumentAdded(d) = events[1] else {
        panic!("DocumentAdded, got {}", events[1].name())
    };
    assert_eq!(d.meta.event_id, text_doc.event_id);
    assert_eq!(
        (d.document_id.as_str(), d.job_id.as_str()),
        (text_doc.document_id.as_str(), "tower-a.2025_1")
    );
    assert_eq!(d.pages, ["Confirm the slab edge at grid C/4."]);
    assert_eq!((d.page_count, d.size_bytes), (Some(1), 34));
    assert_eq!(
        (d.title.as_str(), d.kind),
        ("RFI 12: slab edge", DocumentKind::Rfi)
    );
    assert_eq!(
        (
            d.file_name.as_str(),
            d.content_type.as_str(),
            d.storage_uri.as_str(),
            d.uploaded_by.as_str()
        ),
        ("RFI 12: slab edge", "text/plain", "", "")
    );
    let Event::DocumentAdded(d) = events[2] else {
        panic!("DocumentAdded, got {}", events[2].name())
    };
    assert_eq!(d.meta.event_id, paged_doc.event_id);
    assert_eq!(d.pages, ["Part 1 – General", "", "Part 2 – Products"]);
    assert_eq!(
        (d.page_count, d.size_bytes),
        (Some(3), 37),
        "UTF-8 bytes: each dash is 3"
    );
    assert_eq!(d.kind, DocumentKind::Specification);
    assert_eq!(
        (
            d.file_name.as_str(),
            d.content_type.as_str(),
            d.uploaded_by.as_str()
        ),
        ("03300.pdf", "application/pdf", "u-9")
    );
    let Event::JobCompleted(e) = events[3] else {
        panic!("JobCompleted, got {}", events[3].name())
    };
    assert_eq!(e.meta.event_id, completed.event_id);
    assert_eq!(
        (e.job_id.as_str(), e.completed_by.as_str()),
        ("tower-a.2025_1", "u-7")
    );
    let Event::JobReopened(e) = events[4] else {
        panic!("JobReopened, got {}", events[4].name())
    };
    assert_eq!(e.meta.event_id, reopened.event_id);
    assert_eq!(
        (e.job_id.as_str(), e.reason.as_str()),
        ("tower-a.2025_1", "punch list")
    );
    let Event::JobCompleted(e) = events[5] else {
        panic!("JobCompleted, got {}", events[5].name())
    };
    assert_eq!(e.completed_by, "", "not given: empty");
    let Event::JobNotebookRequested(e) = events[6] else {
        panic!("JobNotebookRequested, got {}", events[6].name())
    };
    assert_eq!(e.meta.event_id, requested.event_id);
    assert_eq!(
        (e.job_id.as_str(), e.requested_by.as_str()),
        ("tower-a.2025_1", "u-3")
    );
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_document_of_the_largest_text_is_on_the_log_and_one_byte_more_gets_413() {
    let topics = TestTopics::create("ingest_jobs_limit", 1).await.unwrap();
    let api = start_with(&topics, accepting()).await.api;
    let company = Uuid::now_v7();
    let url = format!("{api}/v1/jobs/job-1/documents");
    let limit = trestle_ingest::IngestConfig::default()
        .http
        .max_document_text_bytes;
    assert_eq!(limit, 512 * 1024);
    // Mostly quotes and newlines, which JSON escapes to two bytes each: the body is nearly
    // twice the text, and still the text limit, not the body limit, decides.
    let text = "\"\n".repeat(limit / 2);
    let (status, answer) = post(
        &url,
        json!({"company_id": company, "title": "Daily report", "kind": "report", "text": text}),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let (status, answer) = post(
        &url,
        json!({"company_id": company, "title": "Daily report", "kind": "report",
               "pages": [text, "x"]}),
    )
    .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (413, Some("document_too_large")),
        "{answer}"
    );
    let detail = answer["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("{} bytes", limit + 1))
            && detail.contains(&format!("limit of {limit} bytes"))
            && detail.contains("max_document_text_bytes"),
        "{detail}"
    );

    let records = jobs_on_the_log(&topics, 1).await;
    assert_eq!(records.len(), 1, "only the document at the limit");
    let Event::DocumentAdded(d) = &records[0].2 else {
        panic!("expected DocumentAdded")
    };
    assert_eq!(d.size_bytes, limit as i64);
    assert_eq!(d.pages[0].len(), limit);
    topics.delete().await;
}

/// A bad call: name, method, path (after the listener), body, the status it must get, its
/// error, and words its detail must contain.
type BadCall<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Option<String>,
    u16,
    &'a str,
    &'a str,
);

#[tokio::test(flavor = "multi_thread")]
async fn bad_job_input_gets_a_4xx_naming_the_problem_and_nothing_is_published() {
    let topics = TestTopics::create("ingest_jobs_bad", 1).await.unwrap();
    let api = start_with(&topics, accepting()).await.api;
    let c = Uuid::now_v7();
    let doc = |extra: Value| {
        let mut body = json!({"company_id": c, "title": "Level 2 plan", "kind": "drawing"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        Some(body.to_string())
    };
    let docs = "/v1/jobs/job-1/documents";
    let kinds = "drawing, specification, rfi, submittal, contract, report, photo_log, other";
    let cases: Vec<BadCall> = vec![
        (
            "job id with a slash",
            "POST",
            "/v1/jobs",
            Some(json!({"company_id": c, "job_id": "tower/a", "name": "Tower A"}).to_string()),
            422,
            "invalid_field",
            "A-Z, a-z, 0-9, '.', '_' and '-' (it becomes part of notebook ids",
        ),
        (
            "job id with an encoded slash in the path",
            "POST",
            "/v1/jobs/tower%2Fa/complete",
            Some(json!({"company_id": c}).to_string()),
            422,
            "invalid_field",
            "job_id must be 1 to 128 characters",
        ),
        (
            "job id with a slash in the path",
            "POST",
            "/v1/jobs/tower/a/documents",
            doc(json!({"text": "t"})),
            404,
            "no_such_route",
            "a job id is one path segment of 1 to 128 characters",
        ),
        (
            "job id too long",
            "POST",
            "/v1/jobs",
            Some(
                json!({"company_id": c, "job_id": "j".repeat(129), "name": "Tower A"}).to_string(),
            ),
            422,
            "invalid_field",
            "129 characters",
        ),
        (
            "job id missing",
            "POST",
            "/v1/jobs",
            Some(json!({"company_id": c, "name": "Tower A"}).to_string()),
            422,
            "invalid_field",
            "job_id",
        ),
        (
            "empty name",
            "POST",
            "/v1/jobs",
            Some(json!({"company_id": c, "job_id": "j", "name": " "}).to_string()),
            422,
            "invalid_field",
            "name must not be empty",
        ),
        (
            "long name",
            "POST",
            "/v1/jobs",
            Some(json!({"company_id": c, "job_id": "j", "name": "n".repeat(501)}).to_string()),
            422,
            "invalid_field",
            "limit of 500",
        ),
        (
            "unknown field",
            "POST",
            "/v1/jobs",
            Some(json!({"company_id": c, "job_id": "j", "name": "n", "tier": "hot"}).to_string()),
            422,
            "invalid_field",
            "tier",
        ),
        (
            "not json",
            "POST",
            "/v1/jobs/job-1/reopen",
            Some("{\"company_id\": ".into()),
            400,
            "malformed_json",
            "",
        ),
        (
            "no company",
            "POST",
            "/v1/jobs/job-1/complete",
            Some("{}".into()),
            422,
            "invalid_field",
            "company_id",
        ),
        (
            "nil company",
            "POST",
            "/v1/jobs/job-1/complete",
            Some(json!({"company_id": Uuid::nil()}).to_string()),
            422,
            "invalid_field",
            "company_id must not be the nil UUID",
        ),
        (
            "no body",
            "POST",
            "/v1/jobs/job-1/complete",
            None,
            415,
            "unsupported_media_type",
            "",
        ),
        (
            "text and pages both",
            "POST",
            docs,
            doc(json!({"text": "a", "pages": ["b"]})),
            422,
            "invalid_field",
            "not both",
        ),
        (
            "neither text nor pages",
            "POST",
            docs,
            doc(json!({})),
            422,
            "invalid_field",
            "a document needs text",
        ),
        (
            "empty text",
            "POST",
            docs,
            doc(json!({"text": " \n "})),
            422,
            "empty_document",
            "a document needs text",
        ),
        (
            "empty pages",
            "POST",
            docs,
            doc(json!({"pages": ["", "  "]})),
            422,
            "empty_document",
            "a document needs text",
        ),
        (
            "unknown kind",
            "POST",
            docs,
            doc(json!({"kind": "horoscope", "text": "t"})),
            422,
            "invalid_field",
            kinds,
        ),
        (
            "kind unknown",
            "POST",
            docs,
            doc(json!({"kind": "unknown", "text": "t"})),
            422,
            "invalid_field",
            kinds,
        ),
        (
            "kind missing",
            "POST",
            docs,
            Some(json!({"company_id": c, "title": "Plan", "text": "t"}).to_string()),
            422,
            "invalid_field",
            kinds,
        ),
        (
            "title missing",
            "POST",
            docs,
            Some(json!({"company_id": c, "kind": "drawing", "text": "t"}).to_string()),
            422,
            "invalid_field",
            "title",
        ),
        (
            "bad document id",
            "POST",
            docs,
            doc(json!({"document_id": "a b", "text": "t"})),
            422,
            "invalid_field",
            "document_id must be 1 to 128 characters",
        ),
        (
            "NUL in a page",
            "POST",
            docs,
            doc(json!({"pages": ["ok", "a\u{0}b"]})),
            422,
            "invalid_field",
            "pages[1]",
        ),
        (
            "text over the limit",
            "POST",
            docs,
            doc(json!({"text": "x".repeat(512 * 1024 + 1)})),
            413,
            "document_too_large",
            "524289 bytes (UTF-8), more than the limit of 524288 bytes (max_document_text_bytes)",
        ),
        (
            "multi-byte text over the limit",
            "POST",
            docs,
            doc(json!({"text": "ü".repeat(256 * 1024 + 1)})),
            413,
            "document_too_large",
            "524290 bytes",
        ),
        (
            "too many pages",
            "POST",
            docs,
            doc(json!({"pages": vec!["p"; 2001]})),
            413,
            "too_many_pages",
            "2001 pages, more than the limit of 2000 (max_document_pages)",
        ),
        (
            "body over the document route's limit",
            "POST",
            docs,
            doc(json!({"text": "x".repeat(1_200_000)})),
            413,
            "body_too_large",
            "at most 524288 bytes: max_document_text_bytes",
        ),
        (
            "body over the limit elsewhere",
            "POST",
            "/v1/jobs",
            Some(json!({"company_id": c, "job_id": "j", "name": "n".repeat(70_000)}).to_string()),
            413,
            "body_too_large",
            "65536 bytes (max_body_bytes)",
        ),
        (
            "documents without company",
            "GET",
            docs,
            None,
            422,
            "invalid_field",
            "company_id",
        ),
    ];
    for (case, method, path, body, status, error, mentions) in cases {
        let (got, answer) = call(method, &format!("{api}{path}"), body).await;
        assert_eq!(got, status, "{case}: {answer}");
        assert_eq!(answer["code"], error, "{case}: {answer}");
        let detail = answer["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(mentions), "{case}: {detail}");
    }
    let end = trestle_testkit::end_offsets(&topics.options, &topics.topic("jobs")).unwrap();
    assert!(
        end.iter().all(|(_, high)| *high == 0),
        "nothing was published: {end:?}"
    );
    topics.delete().await;
}

fn registered(company: Uuid) -> Event {
    Event::CompanyRegistered(CompanyRegistered {
        name: "Acme Bau".into(),
        ..trestle_testkit::fixtures::registered(company, Tier::Premium, Region::Eu)
    })
}

fn provisioned(company: Uuid, shard: i32) -> Event {
    Event::TenantProvisioned(TenantProvisioned {
        meta: Meta::root(company),
        region: Region::Eu,
        database_shard: shard,
        cloud_project_id: "eu-1".into(),
        isolation_level: IsolationLevel::Shared,
        kb_notebook_id: String::new(),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn job_routes_refuse_companies_not_provisioned_like_ai_requests() {
    let topics = TestTopics::create("ingest_jobs_refused", 1).await.unwrap();
    let producer = EventProducer::new(&topics.options).unwrap();
    let (unknown, waiting) = (Uuid::now_v7(), Uuid::now_v7());
    producer.publish(&registered(waiting)).await.unwrap();
    let config = IngestConfig {
        shards: vec![],
        ..IngestConfig::default()
    };
    let api = start_with(&topics, config).await.api;

    for (company, error) in [
        (unknown, "company_not_registered"),
        (waiting, "company_not_provisioned"),
    ] {
        let calls = [
            (
                "POST",
                "/v1/jobs".to_owned(),
                Some(json!({"company_id": company, "job_id": "j", "name": "n"})),
            ),
            (
                "POST",
                "/v1/jobs/j/complete".to_owned(),
                Some(json!({"company_id": company})),
            ),
            (
                "POST",
                "/v1/jobs/j/reopen".to_owned(),
                Some(json!({"company_id": company})),
            ),
            (
                "POST",
                "/v1/jobs/j/notebook".to_owned(),
                Some(json!({"company_id": company})),
            ),
            (
                "POST",
                "/v1/jobs/j/documents".to_owned(),
                Some(json!({"company_id": company, "title": "t", "kind": "other", "text": "x"})),
            ),
            (
                "GET",
                format!("/v1/jobs/j/documents?company_id={company}"),
                None,
            ),
        ];
        for (method, path, body) in calls {
            let mut request = reqwest::Client::new()
                .request(method.parse().unwrap(), format!("{api}{path}"))
                .header("authorization", crate::bearer(company));
            if let Some(body) = &body {
                request = request.json(body);
            }
            let resp = request.send().await.unwrap();
            let status = resp.status().as_u16();
            let retry_after = resp.headers().get("retry-after").cloned();
            let answer: Value = resp.json().await.unwrap();
            assert_eq!(
                (status, answer["code"].as_str()),
                (409, Some(error)),
                "{method} {path}: {answer}"
            );
            assert!(
                answer["detail"]
                    .as_str()
                    .unwrap()
                    .contains(&company.to_string()),
                "{answer}"
            );
            assert_eq!(retry_after.as_ref().map(|v| v.to_str().unwrap()), Some("1"));
        }
    }
    let end = trestle_testkit::end_offsets(&topics.options, &topics.topic("jobs")).unwrap();
    assert!(
        end.iter().all(|(_, high)| *high == 0),
        "nothing was published: {end:?}"
    );

    // Once provisioned, it is taken; its documents need the shards this ingest has none of.
    producer.publish(&provisioned(waiting, 0)).await.unwrap();
    let job = json!({"company_id": waiting, "job_id": "j", "name": "n"});
    trestle_testkit::wait_for(
        "the provisioning to be read",
        Duration::from_secs(30),
        || async { (post(&format!("{api}/v1/jobs"), job.clone()).await.0 == 202).then_some(()) },
    )
    .await;
    let (status, answer) = call(
        "GET",
        &format!("{api}/v1/jobs/j/documents?company_id={waiting}"),
        None,
    )
    .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (503, Some("shards_not_configured")),
        "{answer}"
    );
    assert!(
        answer["detail"].as_str().unwrap().contains("[[shards]]"),
        "{answer}"
    );
    topics.delete().await;
}

/// One `job_documents` row, inserted as its company (row-level security, forced).
struct Row {
    company: Uuid,
    document_id: &'static str,
    job_id: &'static str,
    sync_state: &'static str,
    notebook_id: Option<&'static str>,
    attempts: i32,
    last_error: Option<&'static str>,
    added_at: DateTime<Utc>,
    synced_at: Option<DateTime<Utc>>,
}

async fn insert(pool: &sqlx::PgPool, row: &Row) {
    let mut tx = trestle_store::begin_for_tenant(pool, row.company)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO job_documents (company_id, document_id, job_id, title, kind, file_name, pages,
                                    added_event_id, added_at, sync_state, notebook_id, attempts,
                                    last_error, synced_at)
         VALUES ($1, $2, $3, $4, 'drawing', $5, ARRAY['page one'], $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(row.company)
    .bind(row.document_id)
    .bind(row.job_id)
    .bind(format!("Title of {}", row.document_id))
    .bind(format!("{}.pdf", row.document_id))
    .bind(Uuid::now_v7())
    .bind(row.added_at)
    .bind(row.sync_state)
    .bind(row.notebook_id)
    .bind(row.attempts)
    .bind(row.last_error)
    .bind(row.synced_at)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn insert_job(pool: &sqlx::PgPool, company: Uuid, job_id: &str) {
    let mut tx = trestle_store::begin_for_tenant(pool, company)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO jobs (company_id, job_id, name, status, tier, notebook_id, created_at)
         VALUES ($1, $2, 'Empty job', 'active', 'hot', 'nb-1', now())",
    )
    .bind(company)
    .bind(job_id)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn documents_of_a_job_are_read_from_the_companys_shard_and_never_another_companys() {
    let topics = TestTopics::create("ingest_jobs_read", 1).await.unwrap();
    let (shard_0, shard_1) = (
        TestDb::shard("ingest_docs_0").await.unwrap(),
        TestDb::shard("ingest_docs_1").await.unwrap(),
    );
    let (acme, other) = (Uuid::now_v7(), Uuid::now_v7());
    let producer = EventProducer::new(&topics.options).unwrap();
    for event in [
        registered(acme),
        provisioned(acme, 1),
        registered(other),
        provisioned(other, 1),
    ] {
        producer.publish(&event).await.unwrap();
    }
    let pool_0 = trestle_store::connect(&shard_0.options).await.unwrap();
    let pool_1 = trestle_store::connect(&shard_1.options).await.unwrap();
    let t = |s: u32| Utc.with_ymd_and_hms(2025, 3, 1, 8, 0, s).unwrap();
    let row = |company, document_id, job_id, added_at| Row {
        company,
        document_id,
        job_id,
        sync_state: "pending",
        notebook_id: None,
        attempts: 0,
        last_error: None,
        added_at,
        synced_at: None,
    };
    let rows = [
        // Acme's job "tower-a" in its shard, added in an order other than the ids'.
        Row {
            sync_state: "synced",
            notebook_id: Some("nb-acme-tower-a-1"),
            attempts: 1,
            synced_at: Some(t(30)),
            ..row(acme, "d-3", "tower-a", t(10))
        },
        Row {
            sync_state: "failed",
            notebook_id: Some("nb-acme-tower-a-1"),
            attempts: 5,
            last_error: Some("source limit reached"),
            ..row(acme, "d-1", "tower-a", t(20))
        },
        row(acme, "d-2", "tower-a", t(20)),
        // Acme's other job, and another company's document of a job with the same id.
        row(acme, "d-4", "tower-b", t(5)),
        row(other, "x-1", "tower-a", t(1)),
    ];
    for r in &rows {
        insert(&pool_1, r).await;
    }
    // A row of Acme in the shard it does not live in: never read.
    insert(&pool_0, &row(acme, "stale", "tower-a", t(0))).await;
    insert_job(&pool_1, acme, "empty-job").await;

    let config = IngestConfig {
        shards: vec![shard_0.options.clone(), shard_1.options.clone()],
        ..IngestConfig::default()
    };
    let api = start_with(&topics, config).await.api;
    let get = |company: Uuid, job: &str| {
        let url = format!("{api}/v1/jobs/{job}/documents?company_id={company}");
        async move { call("GET", &url, None).await }
    };

    let (status, answer) = get(acme, "tower-a").await;
    assert_eq!(status, 200, "{answer}");
    let answer: JobDocumentsAnswer = serde_json::from_value(answer).unwrap();
    assert_eq!(answer.job_id, "tower-a");
    let ids: Vec<&str> = answer
        .documents
        .iter()
        .map(|d| d.document_id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["d-3", "d-1", "d-2"],
        "by added_at, then document_id; Acme's only"
    );
    assert_eq!(
        answer.documents[0],
        DocumentState {
            document_id: "d-3".into(),
            title: "Title of d-3".into(),
            kind: "drawing".into(),
            file_name: "d-3.pdf".into(),
            sync_state: "synced".into(),
            notebook_id: Some("nb-acme-tower-a-1".into()),
            attempts: 1,
            last_error: None,
            added_at: t(10),
            synced_at: Some(t(30)),
        }
    );
    let failed = &answer.documents[1];
    assert_eq!(
        (
            failed.sync_state.as_str(),
            failed.attempts,
            failed.last_error.as_deref()
        ),
        ("failed", 5, Some("source limit reached"))
    );
    assert_eq!(
        (
            answer.documents[2].sync_state.as_str(),
            answer.documents[2].notebook_id.as_deref()
        ),
        ("pending", None)
    );

    // The other company sees its own document of "tower-a", nothing of Acme's.
    let (status, answer) = get(other, "tower-a").await;
    assert_eq!(status, 200, "{answer}");
    let ids: Vec<String> = serde_json::from_value::<JobDocumentsAnswer>(answer)
        .unwrap()
        .documents
        .into_iter()
        .map(|d| d.document_id)
        .collect();
    assert_eq!(ids, ["x-1"]);
    let (status, answer) = get(other, "tower-b").await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (404, Some("job_not_found")),
        "{answer}"
    );

    // A job recorded without documents yet is an empty list; an unknown job a 404.
    let (status, answer) = get(acme, "empty-job").await;
    assert_eq!(
        (status, answer["documents"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{answer}"
    );
    let (status, answer) = get(acme, "no-such-job").await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (404, Some("job_not_found")),
        "{answer}"
    );
    assert!(
        answer["detail"].as_str().unwrap().contains("no-such-job"),
        "{answer}"
    );

    pool_0.close().await;
    pool_1.close().await;
    shard_0.drop_db().await;
    shard_1.drop_db().await;
    topics.delete().await;
}

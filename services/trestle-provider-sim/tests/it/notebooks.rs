//! The notebook API and embeddings over real HTTP: idempotent creates, limits, extractive
//! answers with citations, quotas, failures that change nothing, creation latency, bad input.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trestle_provider_sim::{
    NotebookBehaviour, ProjectCounts, QueryResponse, SimConfig, EMBEDDING_DIMENSIONS,
    MAX_SOURCE_TEXT_BYTES,
};

/// A running simulator and a client for it.
struct Sim {
    base: String,
    http: reqwest::Client,
}

/// A status, its `Retry-After` header and its JSON body (`Null` when empty).
struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    body: Value,
}

impl Answer {
    fn error_type(&self) -> &str {
        self.body["error"]["type"].as_str().unwrap_or("")
    }

    fn error_message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
}

impl Sim {
    async fn start() -> Sim {
        Sim::start_with(SimConfig::default()).await
    }

    async fn start_with(config: SimConfig) -> Sim {
        Sim {
            base: crate::start_with(config).await,
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse().unwrap());
        let bytes = resp.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{path}: not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Answer {
            status,
            retry_after,
            body,
        }
    }

    async fn put(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PUT, path, Some(body)).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, None).await
    }

    async fn behave(&self, project: &str, behaviour: NotebookBehaviour) {
        let r = self
            .put(
                &format!("/admin/projects/{project}/notebooks"),
                serde_json::to_value(behaviour).unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }

    async fn create(&self, project: &str, notebook: &str) -> Answer {
        self.put(
            &format!("/projects/{project}/notebooks/{notebook}"),
            json!({"title": format!("Notebook {notebook}")}),
        )
        .await
    }

    async fn add(&self, project: &str, notebook: &str, source: &str, text: &str) -> Answer {
        self.put(
            &format!("/projects/{project}/notebooks/{notebook}/sources/{source}"),
            json!({"title": source, "text": text}),
        )
        .await
    }

    async fn query(&self, project: &str, notebook: &str, body: Value) -> Answer {
        self.post(
            &format!("/projects/{project}/notebooks/{notebook}/query"),
            body,
        )
        .await
    }

    async fn counts(&self) -> BTreeMap<String, ProjectCounts> {
        serde_json::from_value(self.get("/admin/notebooks").await.body).unwrap()
    }

    async fn source_ids(&self, project: &str, notebook: &str) -> Vec<String> {
        let r = self
            .get(&format!("/projects/{project}/notebooks/{notebook}/sources"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    }
}

#[tokio::test]
async fn a_retried_create_makes_one_notebook() {
    let sim = Sim::start().await;
    let first = sim.create("proj-us-1", "acme-job-1").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["state"], "ready");
    let again = sim.create("proj-us-1", "acme-job-1").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["id"], "acme-job-1");
    assert_eq!(sim.counts().await["proj-us-1"].notebooks, 1);
    let read = sim.get("/projects/proj-us-1/notebooks/acme-job-1").await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["title"], "Notebook acme-job-1");
    assert_eq!(read.body["source_count"], 0);
}

#[tokio::test]
async fn a_full_project_refuses_new_notebooks_with_409_but_finds_existing_ones() {
    let sim = Sim::start().await;
    sim.behave(
        "small",
        NotebookBehaviour {
            notebooks_per_project: 2,
            ..Default::default()
        },
    )
    .await;
    for nb in ["a", "b"] {
        assert_eq!(sim.create("small", nb).await.status, StatusCode::CREATED);
    }
    let full = sim.create("small", "c").await;
    assert_eq!(full.status, StatusCode::CONFLICT);
    assert_eq!(full.error_type(), "notebook_limit");
    assert!(full.error_message().contains("small holds 2 notebooks"));
    assert_eq!(sim.create("small", "a").await.status, StatusCode::OK);
    // The limit is per project.
    assert_eq!(sim.create("other", "c").await.status, StatusCode::CREATED);
    // Deleting frees a place.
    assert_eq!(
        sim.delete("/projects/small/notebooks/b").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(sim.create("small", "c").await.status, StatusCode::CREATED);
    assert_eq!(sim.counts().await["small"].notebooks, 2);
}

#[tokio::test]
async fn a_full_notebook_refuses_a_source_with_409_and_adds_nothing() {
    let sim = Sim::start().await;
    sim.behave(
        "p",
        NotebookBehaviour {
            sources_per_notebook: 2,
            ..Default::default()
        },
    )
    .await;
    sim.create("p", "nb").await;
    assert_eq!(
        sim.add("p", "nb", "d1", "One.").await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        sim.add("p", "nb", "d2", "Two.").await.status,
        StatusCode::CREATED
    );
    let full = sim.add("p", "nb", "d3", "Three.").await;
    assert_eq!(full.status, StatusCode::CONFLICT);
    assert_eq!(full.error_type(), "source_limit");
    // A retry of a source already there is no new source, so the full notebook takes it.
    let retry = sim.add("p", "nb", "d2", "Two, revised.").await;
    assert_eq!(retry.status, StatusCode::OK);
    assert_eq!(retry.body["chars"], 13);
    assert_eq!(sim.source_ids("p", "nb").await, ["d1", "d2"]);
    assert_eq!(sim.counts().await["p"].sources, 2);
    let absent = sim.add("p", "missing", "d1", "One.").await;
    assert_eq!(absent.status, StatusCode::NOT_FOUND);
    assert_eq!(absent.error_type(), "not_found");
}

/// Two companies' notebooks with look-alike documents, so an answer's citations show which
/// document — of which job, of which company — it came from.
async fn two_companies(sim: &Sim) {
    sim.create("proj-us-1", "acme").await;
    sim.add(
        "proj-us-1",
        "acme",
        "acme-job1-spec",
        "Job 1 spec. The level 3 slab pour is on Tuesday at 6 am. Rebar is #5 at 12 inches.",
    )
    .await;
    sim.add(
        "proj-us-1",
        "acme",
        "acme-job2-spec",
        "Job 2 spec.\nThe level 3 slab pour moved to Friday because of rain.\nCuring takes 7 days.",
    )
    .await;
    sim.create("proj-us-1", "bolt").await;
    sim.add(
        "proj-us-1",
        "bolt",
        "bolt-job1-spec",
        "The level 3 slab pour is on Monday. Inspections happen on Wednesday.",
    )
    .await;
}

#[tokio::test]
async fn a_query_filtered_to_some_sources_cites_only_them_and_the_matching_sentence() {
    let sim = Sim::start().await;
    two_companies(&sim).await;
    let q = "When is the level 3 slab pour?";
    let r = sim
        .query(
            "proj-us-1",
            "acme",
            json!({"question": q, "source_ids": ["acme-job2-spec"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r: QueryResponse = serde_json::from_value(r.body).unwrap();
    assert!(!r.citations.is_empty());
    assert!(r.citations.iter().all(|c| c.source_id == "acme-job2-spec"));
    assert_eq!(
        r.citations[0].sentence,
        "The level 3 slab pour moved to Friday because of rain."
    );
    assert!(r
        .answer
        .starts_with("The level 3 slab pour moved to Friday"));
    assert!(!r.answer.contains("Tuesday") && !r.answer.contains("Monday"));

    // Unfiltered, the same notebook answers from either job but never from another company.
    let r = sim
        .query("proj-us-1", "acme", json!({"question": "Rebar spacing?"}))
        .await;
    let r: QueryResponse = serde_json::from_value(r.body).unwrap();
    assert_eq!(r.citations.len(), 1);
    assert_eq!(r.citations[0].source_id, "acme-job1-spec");
    assert_eq!(r.citations[0].sentence, "Rebar is #5 at 12 inches.");
    let r = sim.query("proj-us-1", "bolt", json!({"question": q})).await;
    let r: QueryResponse = serde_json::from_value(r.body).unwrap();
    assert!(r.citations.iter().all(|c| c.source_id == "bolt-job1-spec"));
    assert!(r.answer.contains("Monday"));

    // Nothing matching: said so, nothing cited.
    let r = sim
        .query(
            "proj-us-1",
            "acme",
            json!({"question": "Who signed the electrical permit?"}),
        )
        .await;
    assert_eq!(r.body["answer"], trestle_provider_sim::NO_ANSWER);
    assert_eq!(r.body["citations"], json!([]));
    assert_eq!(sim.counts().await["proj-us-1"].queries_today, 4);
}

#[tokio::test]
async fn queries_beyond_the_daily_limit_get_429_with_retry_after_until_midnight_utc() {
    let sim = Sim::start().await;
    sim.behave(
        "p",
        NotebookBehaviour {
            queries_per_day: Some(2),
            ..Default::default()
        },
    )
    .await;
    sim.create("p", "nb").await;
    sim.add("p", "nb", "d", "Slab pour Tuesday.").await;
    for _ in 0..2 {
        let r = sim.query("p", "nb", json!({"question": "slab"})).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let over = sim.query("p", "nb", json!({"question": "slab"})).await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(over.error_type(), "quota_exhausted");
    let retry_after = over.retry_after.expect("a Retry-After header");
    assert!((1..=86_400).contains(&retry_after), "{retry_after}");
    let counts = &sim.counts().await["p"];
    assert_eq!((counts.queries_today, counts.queries_total), (2, 2));
    // Another project has its own quota.
    sim.create("q", "nb").await;
    sim.add("q", "nb", "d", "Slab pour Tuesday.").await;
    let r = sim.query("q", "nb", json!({"question": "slab"})).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn a_simulated_failure_changes_nothing_so_retries_keep_counts_exact() {
    let sim = Sim::start().await;
    sim.create("p", "nb").await;
    sim.add("p", "nb", "d0", "Slab pour Tuesday.").await;
    sim.behave(
        "p",
        NotebookBehaviour {
            failure_rate: 1.0,
            ..Default::default()
        },
    )
    .await;
    let calls = [
        sim.add("p", "nb", "d1", "Rebar Friday.").await,
        sim.create("p", "nb2").await,
        sim.delete("/projects/p/notebooks/nb").await,
        sim.delete("/projects/p/notebooks/nb/sources/d0").await,
        sim.query("p", "nb", json!({"question": "slab"})).await,
        sim.get("/projects/p/notebooks/nb").await,
    ];
    for r in &calls {
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
        assert_eq!(r.error_type(), "unavailable");
    }
    sim.behave("p", NotebookBehaviour::default()).await;
    assert_eq!(sim.source_ids("p", "nb").await, ["d0"]);
    let counts = &sim.counts().await["p"];
    assert_eq!(
        (counts.notebooks, counts.sources, counts.queries_total),
        (1, 1, 0)
    );

    // Half the calls fail; a caller retrying each until it succeeds ends with exactly one of each.
    sim.behave(
        "p",
        NotebookBehaviour {
            failure_rate: 0.5,
            ..Default::default()
        },
    )
    .await;
    let mut failures = 0;
    for i in 1..=20 {
        loop {
            let r = sim
                .add("p", "nb", &format!("d{i}"), &format!("Document {i}."))
                .await;
            match r.status {
                StatusCode::CREATED | StatusCode::OK => break,
                StatusCode::SERVICE_UNAVAILABLE => failures += 1,
                other => panic!("{other}: {}", r.body),
            }
        }
    }
    assert!(
        failures > 0,
        "a failure rate of 0.5 failed nothing in 20+ calls"
    );
    sim.behave("p", NotebookBehaviour::default()).await;
    assert_eq!(sim.source_ids("p", "nb").await.len(), 21);
    assert_eq!(sim.counts().await["p"].sources, 21);
}

#[tokio::test]
async fn an_outage_answers_503_in_that_project_only() {
    let sim = Sim::start_with(SimConfig {
        notebook_projects: BTreeMap::from([(
            "down".to_string(),
            NotebookBehaviour {
                outage: true,
                ..Default::default()
            },
        )]),
        ..SimConfig::default()
    })
    .await;
    let r = sim.create("down", "nb").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.error_message().contains("outage"), "{}", r.body);
    assert_eq!(sim.create("up", "nb").await.status, StatusCode::CREATED);
    assert!(!sim.counts().await.contains_key("down"));
}

#[tokio::test]
async fn a_new_notebook_is_creating_until_its_latency_has_passed() {
    let sim = Sim::start().await;
    sim.behave(
        "slow",
        NotebookBehaviour {
            create_latency_ms: 1_000,
            ..Default::default()
        },
    )
    .await;
    let created = sim.create("slow", "nb").await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["state"], "creating");
    let early = sim.add("slow", "nb", "d", "Slab pour Tuesday.").await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    assert_eq!(early.error_type(), "not_ready");
    assert_eq!(early.retry_after, Some(1));
    let early = sim.query("slow", "nb", json!({"question": "slab"})).await;
    assert_eq!(early.error_type(), "not_ready");
    // A retried create neither makes a second notebook nor restarts the wait.
    assert_eq!(sim.create("slow", "nb").await.status, StatusCode::OK);

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = sim.get("/projects/slow/notebooks/nb").await;
        if r.body["state"] == "ready" {
            break;
        }
        assert_eq!(r.body["state"], "creating");
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let added = sim.add("slow", "nb", "d", "Slab pour Tuesday.").await;
    assert_eq!(added.status, StatusCode::CREATED);
    let counts = &sim.counts().await["slow"];
    assert_eq!(
        (counts.notebooks, counts.sources, counts.queries_total),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn deletes_are_idempotent_and_take_sources_with_them() {
    let sim = Sim::start().await;
    sim.create("p", "nb").await;
    sim.add("p", "nb", "d1", "One.").await;
    sim.add("p", "nb", "d2", "Two.").await;
    for _ in 0..2 {
        let r = sim.delete("/projects/p/notebooks/nb/sources/d1").await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    }
    assert_eq!(sim.source_ids("p", "nb").await, ["d2"]);
    for _ in 0..2 {
        let r = sim.delete("/projects/p/notebooks/nb").await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    }
    assert_eq!(
        sim.get("/projects/p/notebooks/nb").await.status,
        StatusCode::NOT_FOUND
    );
    let counts = &sim.counts().await["p"];
    assert_eq!((counts.notebooks, counts.sources), (0, 0));
}

#[tokio::test]
async fn admin_counts_and_listing_show_each_projects_notebooks_and_sources() {
    let sim = Sim::start().await;
    two_companies(&sim).await;
    sim.create("proj-eu-1", "cobalt").await;
    let counts = sim.counts().await;
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        ["proj-eu-1", "proj-us-1"]
    );
    assert_eq!(
        (counts["proj-us-1"].notebooks, counts["proj-us-1"].sources),
        (2, 3)
    );
    assert_eq!(
        (counts["proj-eu-1"].notebooks, counts["proj-eu-1"].sources),
        (1, 0)
    );
    let listing = sim.get("/admin/notebooks/proj-us-1").await.body;
    assert_eq!(
        listing,
        json!([
            {"id": "acme", "state": "ready", "source_ids": ["acme-job1-spec", "acme-job2-spec"]},
            {"id": "bolt", "state": "ready", "source_ids": ["bolt-job1-spec"]},
        ])
    );
    assert_eq!(sim.get("/admin/notebooks/nowhere").await.body, json!([]));
    let behaviour = sim.get("/admin/projects/proj-us-1/notebooks").await.body;
    assert_eq!(behaviour["notebooks_per_project"], 50_000);
    assert_eq!(behaviour["sources_per_notebook"], 300);
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[tokio::test]
async fn embeddings_are_deterministic_and_the_right_chunk_is_nearest() {
    let sim = Sim::start().await;
    let chunks = [
        "Electrical panel inspection checklist signed by the foreman.",
        "The level 3 slab concrete pour is scheduled for Tuesday.",
        "Crane rental invoice for the month of March.",
    ];
    let r = sim
        .post(
            "/openai/v1/embeddings",
            json!({"model": "text-embedding-3-small", "input": chunks}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let body: trestle_provider_sim::EmbeddingsResponse = serde_json::from_value(r.body).unwrap();
    assert_eq!(body.data.len(), 3);
    assert!(body.usage.prompt_tokens > 0);
    let vectors: Vec<Vec<f32>> = body.data.into_iter().map(|d| d.embedding).collect();
    assert!(vectors.iter().all(|v| v.len() == EMBEDDING_DIMENSIONS));

    let q = sim
        .post(
            "/gemini/v1/embeddings",
            json!({"model": "m", "input": "When is the concrete pour on level 3?"}),
        )
        .await;
    let q: Vec<f32> = serde_json::from_value(q.body["data"][0]["embedding"].clone()).unwrap();
    let nearest = (0..3)
        .max_by(|a, b| cosine(&q, &vectors[*a]).total_cmp(&cosine(&q, &vectors[*b])))
        .unwrap();
    assert_eq!(nearest, 1);

    let again = sim
        .post(
            "/openai/v1/embeddings",
            json!({"model": "m", "input": chunks[1]}),
        )
        .await;
    let again: Vec<f32> =
        serde_json::from_value(again.body["data"][0]["embedding"].clone()).unwrap();
    assert_eq!(again, vectors[1]);
    assert_eq!(again, trestle_provider_sim::embed(chunks[1]));
}

/// Sends `body` (raw text, as JSON) to `path` and expects `status` with an error that names
/// `reason`.
async fn check(sim: &Sim, method: Method, path: &str, body: &str, status: u16, reason: &str) {
    let resp = sim
        .http
        .request(method, format!("{}{path}", sim.base))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let got = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "{path} {body:.80}: {text}");
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    let message = json["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(reason),
        "{path}: {message:?} does not say {reason:?}"
    );
}

#[tokio::test]
async fn bad_input_gets_a_4xx_with_a_reason_and_changes_nothing() {
    let sim = Sim::start().await;
    sim.create("p", "nb").await;
    sim.add("p", "nb", "d", "Slab pour Tuesday.").await;
    let nb = "/projects/p/notebooks/nb";
    let big_text = "x".repeat(MAX_SOURCE_TEXT_BYTES + 1);
    let big_source = json!({"title": "t", "text": big_text}).to_string();
    let huge_body = json!({"title": "t", "text": "y".repeat(9 * 1024 * 1024)}).to_string();
    let cases: Vec<(Method, String, String, u16, &str)> = vec![
        (
            Method::PUT,
            nb.into(),
            "{not json".into(),
            400,
            "parse the request body",
        ),
        (Method::PUT, nb.into(), "{}".into(), 422, "title"),
        (
            Method::PUT,
            nb.into(),
            r#"{"title": "t", "colour": "red"}"#.into(),
            422,
            "colour",
        ),
        (
            Method::PUT,
            "/projects/p/notebooks/has%20space".into(),
            r#"{"title": "t"}"#.into(),
            400,
            "whitespace",
        ),
        (
            Method::PUT,
            format!("{nb}/sources/big"),
            big_source,
            413,
            "limit is 1048576 bytes",
        ),
        (
            Method::PUT,
            format!("{nb}/sources/huge"),
            huge_body,
            413,
            "the limit",
        ),
        (
            Method::PUT,
            format!("{nb}/sources/empty"),
            r#"{"title": "t", "text": "  "}"#.into(),
            400,
            "no text",
        ),
        (
            Method::POST,
            format!("{nb}/query"),
            r#"{"question": " "}"#.into(),
            400,
            "question is empty",
        ),
        (
            Method::POST,
            format!("{nb}/query"),
            json!({"question": "q".repeat(20_000)}).to_string(),
            413,
            "question is 20000 bytes",
        ),
        (
            Method::POST,
            format!("{nb}/query"),
            r#"{"question": "slab", "source_ids": []}"#.into(),
            400,
            "source_ids is empty",
        ),
        (
            Method::POST,
            format!("{nb}/query"),
            r#"{"question": "slab", "source_ids": ["d", "gone"]}"#.into(),
            404,
            "no source gone",
        ),
        (
            Method::POST,
            "/projects/p/notebooks/absent/query".into(),
            r#"{"question": "slab"}"#.into(),
            404,
            "no notebook absent",
        ),
        (
            Method::PUT,
            "/admin/projects/p/notebooks".into(),
            r#"{"failure_rate": 3.0}"#.into(),
            422,
            "failure_rate",
        ),
        (
            Method::PUT,
            "/admin/projects/p/notebooks".into(),
            r#"{"notebooks_per_projekt": 3}"#.into(),
            422,
            "notebooks_per_projekt",
        ),
        (
            Method::POST,
            "/openai/v1/embeddings".into(),
            r#"{"model": "m", "input": []}"#.into(),
            400,
            "input is empty",
        ),
        (
            Method::POST,
            "/openai/v1/embeddings".into(),
            r#"{"model": "m", "input": ["ok", ""]}"#.into(),
            400,
            "input[1] is empty",
        ),
    ];
    for (method, path, body, status, reason) in cases {
        check(&sim, method, &path, &body, status, reason).await;
    }
    assert_eq!(sim.source_ids("p", "nb").await, ["d"]);
    let counts = &sim.counts().await["p"];
    assert_eq!((counts.notebooks, counts.queries_total), (1, 0));
}

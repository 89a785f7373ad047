//! `notebook_tour`: one company's job through the notebook tiers on the local stack, in
//! seconds of simulated time — created (hot), completed and 31 days later warm, 6 months later
//! cold, reopened and hot again — with a question asked at each stage and the path that
//! answered it, then a question about no job, which the company's knowledge base answers. load/demo runs it after the load; the timer service must run on the clock file
//! it moves (`clock.source = "file"`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::Parser;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Message, TopicPartitionList};
use serde_json::{json, Value};
use trestle_events::Event;
use uuid::Uuid;

#[derive(Parser)]
#[command(version)]
struct Args {
    /// Base URL of the ingest API.
    #[arg(long, default_value = "http://127.0.0.1:18000")]
    ingest_url: String,
    /// Base URL of ingest's admin listener (company registration).
    #[arg(long, default_value = "http://127.0.0.1:18001")]
    admin_url: String,
    /// Kafka of the local stack (the answers are read from ai-outcomes).
    #[arg(long, default_value = "127.0.0.1:19092")]
    kafka_bootstrap: String,
    /// The timer service's clock file.
    #[arg(long)]
    clock_file: PathBuf,
    /// How long to wait for each stage.
    #[arg(long, default_value_t = 120)]
    wait_secs: u64,
}

const DOCUMENTS: [(&str, &str, &str); 3] = [
    (
        "spec-03-30",
        "Cast-in-place concrete",
        "Footings use C30/37 concrete with a 50 mm cover. Slabs on grade are 200 mm thick.",
    ),
    (
        "rfi-014",
        "RFI 14: curtain wall anchors",
        "The curtain wall anchors are stainless steel A4-70 at 1.2 m centres. The engineer approved them on 3 March.",
    ),
    (
        "daily-0412",
        "Daily report 12 April",
        "Tower crane TC-2 lifted the level 5 precast stairs. Rain stopped work at 14:00.",
    ),
];

struct Tour {
    args: Args,
    http: reqwest::Client,
    tokens: load::Tokens,
    kafka: trestle_kafka::KafkaOptions,
    company: Uuid,
    job: String,
    now: DateTime<Utc>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let kafka = trestle_kafka::KafkaOptions {
        bootstrap_servers: args.kafka_bootstrap.clone(),
        ..Default::default()
    };
    let now = Utc::now();
    trestle_timers::clock::write_file_clock(&args.clock_file, now)
        .with_context(|| format!("writing the clock file {}", args.clock_file.display()))?;
    let mut tour = Tour {
        args,
        http: reqwest::Client::new(),
        tokens: load::Tokens::from_env()?,
        kafka,
        company: Uuid::nil(),
        job: format!("tour-{}", Uuid::now_v7().simple()),
        now,
    };
    tour.run().await
}

impl Tour {
    async fn run(&mut self) -> anyhow::Result<()> {
        eprintln!("==> Notebook tour: one job through hot, warm and cold");
        self.register().await?;
        self.post(
            "/v1/jobs",
            json!({"job_id": self.job, "name": "Harbour Street Residences"}),
        )
        .await?;
        for (id, title, text) in DOCUMENTS {
            let path = format!("/v1/jobs/{}/documents", self.job);
            let body =
                json!({"document_id": id, "title": title, "kind": "specification", "text": text});
            self.post(&path, body).await?;
        }
        self.wait_documents(
            |d| d["sync_state"] == "synced",
            "synced into the job's notebook",
        )
        .await?;
        self.ask(
            "hot",
            "Which stainless steel grade are the curtain wall anchors?",
        )
        .await?;

        self.post(&format!("/v1/jobs/{}/complete", self.job), json!({}))
            .await?;
        tokio::time::sleep(Duration::from_secs(1)).await; // the completion's timers are scheduled
        self.advance(chrono::Duration::days(31))?;
        self.wait_documents(
            |d| {
                d["notebook_id"]
                    .as_str()
                    .is_some_and(|n| n.contains(".warm."))
            },
            "moved into a warm pool (31 days after completion)",
        )
        .await?;
        self.ask("warm", "Which crane lifted the precast stairs?")
            .await?;

        self.advance(chrono::Duration::days(153))?;
        self.wait_documents(
            |d| d["notebook_id"].is_null(),
            "cold: notebook deleted, embeddings kept (6 months after)",
        )
        .await?;
        self.ask("cold", "What concrete class do the footings use?")
            .await?;

        self.post(
            &format!("/v1/jobs/{}/reopen", self.job),
            json!({"reason": "warranty claim"}),
        )
        .await?;
        self.wait_documents(
            |d| {
                d["sync_state"] == "synced"
                    && d["notebook_id"].as_str().is_some_and(|n| n.ends_with(".2"))
            },
            "reopened: synced into a re-created notebook",
        )
        .await?;
        self.ask(
            "reopened",
            "Which stainless steel grade are the curtain wall anchors?",
        )
        .await?;
        // A question about no job: the company's knowledge base (seeded with the templates
        // when onboarding provisioned it) answers.
        self.ask_about(
            "knowledge base",
            None,
            "At what height is fall protection required?",
        )
        .await?;
        eprintln!("==> Notebook tour done");
        Ok(())
    }

    async fn register(&mut self) -> anyhow::Result<()> {
        let answer: Value = self
            .http
            .post(format!("{}/v1/companies", self.args.admin_url))
            .header("authorization", self.tokens.admin())
            .json(&json!({"name": "Tour Builders", "country": "DE", "tier": "professional"}))
            .send()
            .await
            .context("registering the tour's company (is ingest's admin listener up?)")?
            .json()
            .await?;
        self.company = answer["company_id"]
            .as_str()
            .context("registration answer without company_id")?
            .parse()?;
        eprintln!("    company {} registered", self.company);
        Ok(())
    }

    /// POSTs to ingest as the company, waiting while it is not provisioned yet (409).
    async fn post(&self, path: &str, mut body: Value) -> anyhow::Result<Value> {
        body["company_id"] = self.company.to_string().into();
        let deadline = Instant::now() + Duration::from_secs(self.args.wait_secs);
        loop {
            let response = self
                .http
                .post(format!("{}{path}", self.args.ingest_url))
                .header("authorization", self.tokens.company(self.company))
                .json(&body)
                .send()
                .await
                .with_context(|| format!("POST {path} (is ingest up?)"))?;
            let status = response.status();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            if status.is_success() {
                return Ok(answer);
            }
            if status.as_u16() != 409 || Instant::now() > deadline {
                bail!("POST {path} answered {status}: {answer}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn advance(&mut self, by: chrono::Duration) -> anyhow::Result<()> {
        self.now += by;
        trestle_timers::clock::write_file_clock(&self.args.clock_file, self.now)?;
        eprintln!("    clock moved to {}", self.now.format("%Y-%m-%d"));
        Ok(())
    }

    async fn wait_documents(
        &self,
        done: impl Fn(&Value) -> bool,
        what: &str,
    ) -> anyhow::Result<()> {
        let url = format!(
            "{}/v1/jobs/{}/documents?company_id={}",
            self.args.ingest_url, self.job, self.company
        );
        let deadline = Instant::now() + Duration::from_secs(self.args.wait_secs);
        loop {
            let answer: Value = self
                .http
                .get(&url)
                .header("authorization", self.tokens.company(self.company))
                .send()
                .await?
                .json()
                .await
                .unwrap_or(Value::Null);
            let documents = answer["documents"].as_array().cloned().unwrap_or_default();
            if documents.len() == DOCUMENTS.len() && documents.iter().all(&done) {
                let notebook = documents[0]["notebook_id"].as_str().unwrap_or("none");
                eprintln!(
                    "    {} documents {what} (notebook {notebook})",
                    documents.len()
                );
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the job's documents were not {what} within {} s: {answer}",
                    self.args.wait_secs
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Asks a question about the job and prints the outcome's path, citations and answer.
    async fn ask(&self, stage: &str, question: &str) -> anyhow::Result<()> {
        self.ask_about(stage, Some(&self.job), question).await
    }

    /// Asks a question about `job` (`None`: the knowledge base) and prints the outcome.
    async fn ask_about(
        &self,
        stage: &str,
        job: Option<&str>,
        question: &str,
    ) -> anyhow::Result<()> {
        let from = load::outcomes_end(&self.kafka)?;
        let mut body = json!({"user_id": "tour", "kind": "notebook_query", "prompt": question});
        if let Some(job) = job {
            body["job_id"] = job.into();
        }
        let submitted = self.post("/v1/ai-requests", body).await?;
        let request: Uuid = submitted["request_id"]
            .as_str()
            .context("submission answer without request_id")?
            .parse()?;
        let outcome = self.outcome(&from, request).await?;
        match outcome {
            Event::AiRequestCompleted(c) => eprintln!(
                "    [{stage}] {question}\n      path {} via {}, cites {:?}\n      answer: {}",
                c.answer_path.as_str(),
                c.provider,
                c.cited_document_ids,
                c.answer.chars().take(160).collect::<String>()
            ),
            other => eprintln!("    [{stage}] {question}\n      outcome: {}", other.name()),
        }
        Ok(())
    }

    async fn outcome(&self, from: &TopicPartitionList, request: Uuid) -> anyhow::Result<Event> {
        let consumer: StreamConsumer = self
            .kafka
            .consumer_config(&format!(
                "trestle-notebook-tour-{}",
                Uuid::now_v7().simple()
            ))
            .create()?;
        consumer.assign(from)?;
        let deadline = Instant::now() + Duration::from_secs(self.args.wait_secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = tokio::time::timeout(left, consumer.recv())
                .await
                .with_context(|| {
                    format!(
                        "no outcome of request {request} within {} s",
                        self.args.wait_secs
                    )
                })??;
            let Some(payload) = message.payload() else {
                continue;
            };
            let Ok(event) = trestle_events::decode(payload) else {
                continue;
            };
            let of = match &event {
                Event::AiRequestCompleted(e) => e.request_id,
                Event::AiRequestFailed(e) => e.request_id,
                Event::AiRequestThrottled(e) => e.request_id,
                Event::AiRequestServedFromCache(e) => e.request_id,
                _ => continue,
            };
            if of == request {
                return Ok(event);
            }
        }
    }
}

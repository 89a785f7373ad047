//! The HTTP edge of Trestle: upstream apps (in any language) submit AI requests here; each
//! accepted request is durably on the log as `AiRequestSubmitted` before the 202 is sent. They
//! create, complete and reopen jobs and add documents to them the same way (`JobCreated`,
//! `JobCompleted`, `JobReopened`, `DocumentAdded` on `jobs`), and read a job's documents' sync
//! state back from the company's shard database (`GET /v1/jobs/{job_id}/documents`).
//! A second, admin listener (loopback by default) registers companies (`POST /v1/companies`):
//! each registration is durably on the log as `CompanyRegistered` before the 201 is sent.
//!
//! **Architecture invariant:** ingest never answers 500 for bad input: a body that is not JSON,
//! has unknown fields or bad values gets a 4xx whose problem+json (RFC 9457) names the problem
//! with a stable `code`; a log outage gets
//! 503 with a retry hint. Nothing is accepted that is not on the log.

mod admin;
mod api;
mod auth;
mod error;
mod job_routes;
mod jobs;
mod problem;
mod request;
mod shards;
mod standings;

pub use admin::{admin_router, AdminState, Registered};
pub use api::{router, AppState};
pub use auth::{mint_hs256, AuthOptions, Authenticator};
pub use error::Error;
pub use jobs::{
    AddDocument, CompleteJob, CreateJob, DocumentAccepted, DocumentLimits, DocumentState, Invalid,
    JobAccepted, JobDocumentsAnswer, ReopenJob, RequestNotebook,
};
pub use problem::{Problem, PROBLEM_JSON};
pub use request::{SubmitAiRequest, Submitted};
pub use shards::ShardPools;
pub use standings::{Standing, Standings};

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

/// Configuration of the ingest service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// The listener of upstream apps (`POST /v1/ai-requests`, `/v1/jobs…`).
    pub http: HttpOptions,
    /// The operators' listener (`POST /v1/companies`).
    pub admin_http: AdminHttpOptions,
    /// Credentials of both listeners: the HS256 secret, the JWKS, the API keys' database.
    pub auth: AuthOptions,
    pub kafka: trestle_kafka::KafkaOptions,
    /// Which region a registered company's country puts it in (`[regions.countries]`, added
    /// to the default table).
    pub regions: trestle_tenants::RegionTable,
    /// Requests of companies that are not provisioned: `refuse` (the default: 409 naming
    /// the company's standing) or `accept` (load runs without onboarding; the engine decides).
    pub unprovisioned: Unprovisioned,
    /// The shard databases, in shard order (`[[shards]]`, like trestle-admin's; only `url` and
    /// the pool settings are used), read by `GET /v1/jobs/{job_id}/documents`: a company's
    /// rows are in the shard its provisioning names. Pools connect on first use. Empty: that
    /// route answers 503. Default: the local stack's two shards.
    pub shards: Vec<trestle_store::PostgresOptions>,
    /// How long start-up waits to read the `tenants` topic before serving.
    pub tenants_catch_up_ms: u64,
    pub telemetry: trestle_telemetry::TelemetryOptions,
}

/// What ingest does with a request of a company that is not provisioned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unprovisioned {
    /// 409 naming the company's standing; nothing is published.
    #[default]
    Refuse,
    /// Accepted like any other; the engine answers it (and refuses it unless configured
    /// otherwise).
    Accept,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            http: Default::default(),
            admin_http: Default::default(),
            auth: Default::default(),
            kafka: Default::default(),
            regions: Default::default(),
            unprovisioned: Unprovisioned::Refuse,
            shards: ["trestle_shard_0", "trestle_shard_1"]
                .map(|name| trestle_store::PostgresOptions {
                    url: format!("postgres://trestle_app:trestle_app@127.0.0.1:15432/{name}"),
                    owner_url: format!(
                        "postgres://trestle_owner:trestle_owner@127.0.0.1:15432/{name}"
                    ),
                    ..Default::default()
                })
                .into(),
            tenants_catch_up_ms: 30_000,
            telemetry: Default::default(),
        }
    }
}

/// The HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpOptions {
    pub listen_addr: String,
    /// Largest accepted request body, except a document's (below).
    pub max_body_bytes: usize,
    /// Most text of one document (`POST /v1/jobs/{job_id}/documents`), in UTF-8 bytes, all
    /// pages together; more is refused with 413. The text travels in the `DocumentAdded`
    /// event, so keep it well under the `jobs` topic's and the producer's largest message
    /// (1 MB by default). That route's body may be up to twice this plus 64 KiB (JSON
    /// escapes), so the text, not the body, is what a too large document is refused for.
    pub max_document_text_bytes: usize,
    /// Most pages of one document; more is refused with 413.
    pub max_document_pages: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            listen_addr: "127.0.0.1:18000".into(),
            max_body_bytes: 64 * 1024,
            max_document_text_bytes: 512 * 1024,
            max_document_pages: 2_000,
        }
    }
}

/// The admin listener: company registration, for operators and the back office (the
/// platform scope `admin`). It listens on loopback unless configured otherwise (then put it on
/// a private interface only).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminHttpOptions {
    pub listen_addr: String,
}

impl Default for AdminHttpOptions {
    fn default() -> Self {
        AdminHttpOptions {
            listen_addr: "127.0.0.1:18001".into(),
        }
    }
}

/// The two bound listeners [`serve`] serves.
#[derive(Debug)]
pub struct Listeners {
    /// Upstream apps' API (`[http] listen_addr`).
    pub api: TcpListener,
    /// The admin API (`[admin_http] listen_addr`).
    pub admin: TcpListener,
}

impl Listeners {
    /// Binds both configured addresses.
    pub async fn bind(config: &IngestConfig) -> Result<Self, Error> {
        let bind = |addr: String| async move {
            TcpListener::bind(&addr)
                .await
                .map_err(|source| Error::Bind { addr, source })
        };
        Ok(Listeners {
            api: bind(config.http.listen_addr.clone()).await?,
            admin: bind(config.admin_http.listen_addr.clone()).await?,
        })
    }
}

/// Serves the ingest API and the admin API until `shutdown` resolves, then lets both finish
/// the requests in flight; stops early if either fails.
pub async fn serve(
    listeners: Listeners,
    config: &IngestConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    if !listeners
        .admin
        .local_addr()
        .is_ok_and(|a| a.ip().is_loopback())
    {
        tracing::warn!(
            message = "The admin listener is not on a loopback address; keep it off public networks.",
            admin_addr = %config.admin_http.listen_addr
        );
    }
    let auth = Authenticator::new(&config.auth).await?;
    let _refreshing = auth.refresh_jwks(&config.auth).map(AbortOnDrop);
    let producer = trestle_kafka::EventProducer::new(&config.kafka)?;
    let refuse = config.unprovisioned == Unprovisioned::Refuse;
    // Refusing needs the standings, and reading documents each company's shard.
    let standings = Standings::default();
    let _following = if refuse || !config.shards.is_empty() {
        let catch_up = std::time::Duration::from_millis(config.tenants_catch_up_ms);
        let guard = standings.follow(&config.kafka, catch_up).await;
        Some(guard.map_err(Error::Tenants)?)
    } else {
        None
    };
    let shards = match config.shards.is_empty() {
        true => None,
        false => Some(ShardPools::new(&config.shards, standings.clone()).map_err(Error::Shards)?),
    };
    let state = AppState::new(producer.clone(), &config.http, auth.clone())
        .with_standings(refuse.then_some(standings))
        .with_shards(shards);
    let api = router(state);
    let admin = admin_router(AdminState::new(producer, config.regions.clone(), auth));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    tokio::try_join!(
        serve_one(listeners.api, api, stopped.clone()),
        serve_one(listeners.admin, admin, stopped),
    )?;
    Ok(())
}

/// Stops a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves `router` on `listener` until `stopped` turns true.
async fn serve_one(
    listener: TcpListener,
    router: axum::Router,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> Result<(), Error> {
    let addr = listener
        .local_addr()
        .map_or_else(|e| format!("an unknown address ({e})"), |a| a.to_string());
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        })
        .await
        .map_err(|source| Error::Serve { addr, source })
}

//! Why the ingest service could not start or stopped serving.

/// An ingest service failure (not a request's: those are answered with 4xx/503).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("creating the Kafka producer: {0}")]
    Producer(#[from] trestle_kafka::Error),
    #[error("reading the tenants topic (which companies are provisioned): {0}")]
    Tenants(#[source] trestle_kafka::Error),
    #[error("opening the shard database pools ([[shards]]): {0}")]
    Shards(#[source] trestle_store::Error),
    #[error("reading the JWKS {jwks} ([auth] jwks): {detail}")]
    Jwks { jwks: String, detail: String },
    #[error("opening the control database pool ([auth] control, API keys): {0}")]
    Control(#[source] trestle_store::Error),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("serving HTTP on {addr}: {source}")]
    Serve {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

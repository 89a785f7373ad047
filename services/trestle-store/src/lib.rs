//! PostgreSQL access for Trestle services: pools, migrations, and tenant scoping.
//!
//! **Architecture invariant:** services connect as `trestle_app`, which is not a superuser, not
//! BYPASSRLS and owns no table; migrations run as `trestle_owner`. Every company-scoped table
//! has row-level security enabled and forced, and a transaction sees one tenant at a time,
//! chosen with [`set_tenant`] (`set_config('trestle.company_id', …, true)`, i.e. `SET LOCAL`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

/// The migrations of a shard database (company-scoped projections).
pub static SHARD_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/shard");

/// The migrations of the control database (platform-wide projections).
pub static CONTROL_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/control");

/// Which kind of database a service writes to; selects its migrations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Database {
    /// A shard database: company-scoped tables under row-level security.
    #[default]
    Shard,
    /// The control database: platform-wide tables.
    Control,
}

impl Database {
    /// Applies this kind's migrations as the owning role.
    pub async fn migrate(self, options: &PostgresOptions) -> Result<(), Error> {
        match self {
            Database::Shard => migrate_shard(options).await,
            Database::Control => migrate_control(options).await,
        }
    }
}

/// What went wrong with Postgres, with the database it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot connect to Postgres {url}: {source} (is the stack up? run `compose/stack up`)"
    )]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migrating {url} failed: {source}")]
    Migrate {
        url: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("query failed: {0}")]
    Query(#[from] sqlx::Error),
}

/// How a service reaches its Postgres database. Defaults match the local stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresOptions {
    /// Connection URL of the application role (`trestle_app`), used for all reads and writes.
    pub url: String,
    /// Connection URL of the owning role, used only to apply migrations at start.
    pub owner_url: String,
    /// Pool size.
    pub max_connections: u32,
    /// How long to wait for a pooled connection.
    pub acquire_timeout_ms: u64,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            url: "postgres://trestle_app:trestle_app@127.0.0.1:15432/trestle_shard_0".into(),
            owner_url: "postgres://trestle_owner:trestle_owner@127.0.0.1:15432/trestle_shard_0"
                .into(),
            max_connections: 8,
            acquire_timeout_ms: 10_000,
        }
    }
}

/// Opens the application pool.
pub async fn connect(options: &PostgresOptions) -> Result<PgPool, Error> {
    PgPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(Duration::from_millis(options.acquire_timeout_ms))
        .connect(&options.url)
        .await
        .map_err(|source| Error::Connect {
            url: redact(&options.url),
            source,
        })
}

/// The application pool, connecting on first use: a service that needs a database only for
/// some of its work (ingest's `GET /v1/jobs/{job_id}/documents`, the engine reading a job's
/// notebook) starts, and serves the rest, while that database is down; a query then fails with
/// the connection error. Fails only on a URL that cannot be parsed.
pub fn connect_lazy(options: &PostgresOptions) -> Result<PgPool, Error> {
    PgPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(Duration::from_millis(options.acquire_timeout_ms))
        .connect_lazy(&options.url)
        .map_err(|source| Error::Connect {
            url: redact(&options.url),
            source,
        })
}

/// Applies the shard migrations as the owning role.
pub async fn migrate_shard(options: &PostgresOptions) -> Result<(), Error> {
    migrate(&SHARD_MIGRATIONS, options).await
}

/// Applies the control-database migrations as the owning role.
pub async fn migrate_control(options: &PostgresOptions) -> Result<(), Error> {
    migrate(&CONTROL_MIGRATIONS, options).await
}

async fn migrate(
    migrator: &sqlx::migrate::Migrator,
    options: &PostgresOptions,
) -> Result<(), Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&options.owner_url)
        .await
        .map_err(|source| Error::Connect {
            url: redact(&options.owner_url),
            source,
        })?;
    let result = migrator.run(&pool).await.map_err(|source| Error::Migrate {
        url: redact(&options.owner_url),
        source,
    });
    pool.close().await;
    result
}

/// Scopes the rest of the transaction to one company (row-level security).
pub async fn set_tenant(conn: &mut PgConnection, company_id: Uuid) -> Result<(), Error> {
    sqlx::query("SELECT set_config('trestle.company_id', $1, true)")
        .bind(company_id.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Begins a transaction scoped to one company.
pub async fn begin_for_tenant(
    pool: &PgPool,
    company_id: Uuid,
) -> Result<Transaction<'static, Postgres>, Error> {
    let mut tx = pool.begin().await?;
    set_tenant(&mut tx, company_id).await?;
    Ok(tx)
}

/// A URL with its password replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

impl Database {
    /// This kind's migrations.
    pub fn migrator(self) -> &'static sqlx::migrate::Migrator {
        match self {
            Database::Shard => &SHARD_MIGRATIONS,
            Database::Control => &CONTROL_MIGRATIONS,
        }
    }

    /// Applies this kind's migrations into `schema` (which must exist) instead of `public`, as
    /// the owning role: the migration SQL is schema-unqualified, so it runs on a connection
    /// whose `search_path` is `schema` alone. Used by projection rebuilds.
    pub async fn migrate_in_schema(
        self,
        options: &PostgresOptions,
        schema: &str,
    ) -> Result<(), Error> {
        let pool = connect_url(&options.owner_url, 1, options, Some(schema)).await?;
        let result = self
            .migrator()
            .run(&pool)
            .await
            .map_err(|source| Error::Migrate {
                url: format!("{} (schema {schema})", redact(&options.owner_url)),
                source,
            });
        pool.close().await;
        result
    }
}

/// Opens an application-role pool whose connections resolve unqualified names in `schema`
/// alone (`search_path`), e.g. to project into a rebuild schema with the live code.
pub async fn connect_in_schema(options: &PostgresOptions, schema: &str) -> Result<PgPool, Error> {
    connect_url(&options.url, options.max_connections, options, Some(schema)).await
}

/// Opens a pool of the owning role (DDL: schemas, renames), with the default `search_path`
/// or `schema` alone.
pub async fn connect_owner(
    options: &PostgresOptions,
    max_connections: u32,
    schema: Option<&str>,
) -> Result<PgPool, Error> {
    connect_url(&options.owner_url, max_connections, options, schema).await
}

/// The role name in a connection URL (e.g. `trestle_app`), for grants.
pub fn role_of(url: &str) -> Result<String, Error> {
    let parsed: sqlx::postgres::PgConnectOptions =
        url.parse().map_err(|source| Error::Connect {
            url: redact(url),
            source,
        })?;
    Ok(parsed.get_username().to_owned())
}

async fn connect_url(
    url: &str,
    max_connections: u32,
    options: &PostgresOptions,
    schema: Option<&str>,
) -> Result<PgPool, Error> {
    let connect_error = |source| Error::Connect {
        url: redact(url),
        source,
    };
    let mut connect: sqlx::postgres::PgConnectOptions = url.parse().map_err(connect_error)?;
    if let Some(schema) = schema {
        connect = connect.options([("search_path", schema)]);
    }
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_millis(options.acquire_timeout_ms))
        .connect_with(connect)
        .await
        .map_err(connect_error)
}

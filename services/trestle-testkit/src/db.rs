//! Throwaway Postgres databases for one test, migrated like a real shard or control database.

use sqlx::{Connection, Executor, PgConnection};
use trestle_store::PostgresOptions;

use crate::{pg_port, unique};

/// A database of its own for one test, dropped by [`TestDb::drop_db`] at the end of a passing
/// test, or when this value is dropped (a failing test's database goes too).
pub struct TestDb {
    pub name: String,
    pub options: PostgresOptions,
    dropped: bool,
}

impl TestDb {
    /// Creates a fresh database owned by `trestle_owner` and applies the shard migrations.
    pub async fn shard(test: &str) -> anyhow::Result<Self> {
        Self::create(test, trestle_store::Database::Shard).await
    }

    /// Creates a fresh database owned by `trestle_owner` and applies the control migrations.
    pub async fn control(test: &str) -> anyhow::Result<Self> {
        Self::create(test, trestle_store::Database::Control).await
    }

    /// Creates a fresh database owned by `trestle_owner` and applies `kind`'s migrations.
    pub async fn create(test: &str, kind: trestle_store::Database) -> anyhow::Result<Self> {
        crate::stack::require_postgres();
        let name = format!("t_{}", unique(test));
        let port = pg_port();
        let admin_url = format!("postgres://trestle_owner:trestle_owner@127.0.0.1:{port}/postgres");
        let mut conn = PgConnection::connect(&admin_url).await.map_err(|e| {
            anyhow::anyhow!("cannot reach Postgres at {admin_url}: {e}; run `compose/stack up`")
        })?;
        conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await?;
        conn.close().await?;
        let options = PostgresOptions {
            url: format!("postgres://trestle_app:trestle_app@127.0.0.1:{port}/{name}"),
            owner_url: format!("postgres://trestle_owner:trestle_owner@127.0.0.1:{port}/{name}"),
            ..PostgresOptions::default()
        };
        kind.migrate(&options).await?;
        Ok(TestDb {
            name,
            options,
            dropped: false,
        })
    }

    /// Drops the database (call at the end of a passing test).
    pub async fn drop_db(mut self) {
        self.dropped = true;
        drop_database(self.name.clone()).await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if !self.dropped {
            crate::run_to_completion(drop_database(self.name.clone()));
        }
    }
}

/// `DROP DATABASE … WITH (FORCE)`: also when the test's pools still hold connections.
async fn drop_database(name: String) {
    let url = format!(
        "postgres://trestle_owner:trestle_owner@127.0.0.1:{}/postgres",
        pg_port()
    );
    if let Ok(mut conn) = PgConnection::connect(&url).await {
        let _ = conn
            .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
            .await;
    }
}

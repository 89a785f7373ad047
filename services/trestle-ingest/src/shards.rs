//! The shard databases ingest reads job documents from (`[[shards]]`), and which one holds a
//! company's rows: the shard its newest provisioning on `tenants` names ([`Standings::shard`]).
//! Pools connect on first use, so ingest starts and takes events while Postgres is down.

use sqlx::PgPool;
use uuid::Uuid;

use crate::standings::Standings;

/// One lazily connecting pool per configured shard, in shard order; cheap to clone.
#[derive(Debug, Clone)]
pub struct ShardPools {
    pools: Vec<PgPool>,
    standings: Standings,
}

/// Where a company's rows are, or why ingest cannot read them.
#[derive(Debug)]
pub(crate) enum Located<'a> {
    Shard(&'a PgPool),
    /// Not provisioned (as far as ingest has read `tenants`): it has no shard yet.
    NotProvisioned,
    /// Provisioned to `shard`, which `[[shards]]` does not list.
    NotConfigured {
        shard: i32,
        configured: usize,
    },
}

impl ShardPools {
    /// Pools for `shards` (shard `i` is `shards[i]`), locating companies with `standings`.
    pub fn new(
        shards: &[trestle_store::PostgresOptions],
        standings: Standings,
    ) -> Result<Self, trestle_store::Error> {
        let pools = shards
            .iter()
            .map(trestle_store::connect_lazy)
            .collect::<Result<_, _>>()?;
        Ok(ShardPools { pools, standings })
    }

    /// The standings the pools are located by.
    pub(crate) fn standings(&self) -> &Standings {
        &self.standings
    }

    pub(crate) fn locate(&self, company: &Uuid) -> Located<'_> {
        let Some(shard) = self.standings.shard(company) else {
            return Located::NotProvisioned;
        };
        match usize::try_from(shard).ok().and_then(|i| self.pools.get(i)) {
            Some(pool) => Located::Shard(pool),
            None => Located::NotConfigured {
                shard,
                configured: self.pools.len(),
            },
        }
    }
}

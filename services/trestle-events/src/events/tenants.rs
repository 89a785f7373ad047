//! Events of the `tenants` topic: company registration, provisioning, API keys and moves
//! between shards.

use crate::enums::{IsolationLevel, Region, Tier};

record! {
    /// A company signed up; its region is assigned from its country.
    pub struct CompanyRegistered {
        /// Display name.
        pub name: String,
        /// Tier chosen at sign-up.
        pub tier: Tier,
        /// ISO 3166-1 alpha-2 country code.
        pub country: String,
        /// Assigned region.
        pub region: Region,
        /// Capacity asked for: `Shared` (the default, and what v1 records read as) or
        /// `Dedicated`, only for enterprise companies (own cloud project and database shard).
        pub isolation: IsolationLevel,
    }
}

record! {
    /// A company received its database shard, cloud project and knowledge-base notebook.
    pub struct TenantProvisioned {
        /// Region provisioned in.
        pub region: Region,
        /// PostgreSQL shard number.
        pub database_shard: i32,
        /// Cloud project for its AI calls.
        pub cloud_project_id: String,
        /// Shared or dedicated capacity.
        pub isolation_level: IsolationLevel,
        /// Knowledge-base notebook id.
        pub kb_notebook_id: String,
    }
}

record! {
    /// A provisioned company's AI initialisation is done: its knowledge-base notebook exists at
    /// the provider and its templates were uploaded to it (their syncs follow).
    pub struct CompanyReady {
        /// Knowledge-base notebook id.
        pub kb_notebook_id: String,
        /// Cloud project it lives in.
        pub cloud_project_id: String,
        /// Templates uploaded to it.
        pub templates: i32,
    }
}

record! {
    /// An operator issued an API key to the company (`trestle-admin keys issue`). Only the
    /// SHA-256 of the key's secret is recorded: the secret was shown once and is on no log.
    pub struct ApiKeyIssued {
        /// Public id of the key (the part of `tk_<id>_<secret>` before the secret).
        pub key_id: String,
        /// Scopes it grants (`ai:write`, `jobs:read`, …).
        pub scopes: Vec<String>,
        /// Lowercase hex SHA-256 of the secret, compared in constant time.
        pub secret_sha256: String,
        /// The issuing operator; empty when not given.
        pub issued_by: String,
    }
}

record! {
    /// An operator revoked one of the company's API keys (`trestle-admin keys revoke`).
    pub struct ApiKeyRevoked {
        /// Public id of the key.
        pub key_id: String,
        /// The revoking operator; empty when not given.
        pub revoked_by: String,
        /// Why; empty when not given.
        pub reason: String,
    }
}

record! {
    /// An operator started moving a company to another database shard (docs/tenancy.md,
    /// "Moving a tenant"); unfinished until the [`TenantMoved`] with the same `move_id`.
    pub struct TenantMoveStarted {
        /// The move's id (a UUIDv7), named by every event of the move.
        pub move_id: uuid::Uuid,
        /// Shard the company was provisioned to when the move started.
        pub from_shard: i32,
        /// Shard it moves to.
        pub to_shard: i32,
        /// Shard count the usage routing decisions are taken for.
        pub shard_count: i32,
    }
}

record! {
    /// A company's rows were rebuilt in its new shard, compared and removed from the old ones.
    pub struct TenantMoved {
        /// The move's id, as in its [`TenantMoveStarted`].
        pub move_id: uuid::Uuid,
        /// Shard the company was provisioned to when the move started.
        pub from_shard: i32,
        /// Shard it moved to.
        pub to_shard: i32,
        /// Shard count the usage routing decisions are taken for.
        pub shard_count: i32,
        /// Usage records rebuilt in the target from records routed to other shards.
        pub usage_records: i64,
        /// md5 of the sorted md5s of those records' rows, as source and target agreed.
        pub usage_digest: String,
    }
}

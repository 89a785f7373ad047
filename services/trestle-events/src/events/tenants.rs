//! Events of the `tenants` topic: company registration and provisioning.

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

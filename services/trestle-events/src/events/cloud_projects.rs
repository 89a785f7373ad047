//! Events of the `cloud-projects` topic: the pool's cloud projects as an operator registers
//! them and changes their settings, published by `trestle-admin project ...` and folded by the
//! pool projection, so the pool's tables are a function of the log alone. Platform-scoped:
//! `meta.company_id` is [`crate::PLATFORM_COMPANY_ID`] and the record key is the
//! `cloud_project_id`, so one project's events stay on one partition in publishing order.

use uuid::Uuid;

use crate::enums::Region;

record! {
    /// A cloud project added to the pool (or registered again with new settings).
    pub struct CloudProjectRegistered {
        /// Cloud project registered; also the record key.
        pub cloud_project_id: String,
        /// Region the project serves.
        pub region: Region,
        /// Most notebooks the project may hold; at least 0.
        pub notebook_limit: i32,
        /// The one (enterprise, dedicated) company the project belongs to; `None` for a shared
        /// pool project.
        pub dedicated_company_id: Option<Uuid>,
    }
}

record! {
    /// A cloud project taken out of the pool for new notebooks, or put back.
    pub struct CloudProjectMaintenanceSet {
        /// Cloud project the setting applies to; also the record key.
        pub cloud_project_id: String,
        /// `true`: in maintenance (no new notebooks); `false`: back in the pool.
        pub maintenance: bool,
    }
}

record! {
    /// A cloud project's notebook limit: the pool counts the project full at or over it.
    pub struct CloudProjectLimitSet {
        /// Cloud project the setting applies to; also the record key.
        pub cloud_project_id: String,
        /// Most notebooks the project may hold; at least 0.
        pub notebook_limit: i32,
    }
}

//! Events of the `providers` topic: circuit breakers per (provider, cloud project, region).
//! Platform-scoped: `meta.company_id` is [`crate::PLATFORM_COMPANY_ID`].

use crate::enums::Region;

record! {
    /// A circuit opened: calls stop until it closes.
    pub struct ProviderCircuitOpened {
        /// Provider.
        pub provider: String,
        /// Cloud project.
        pub cloud_project_id: String,
        /// Region.
        pub region: Region,
        /// Failure rate over the window, 0.0 to 1.0.
        pub failure_rate: f64,
        /// Calls in the window.
        pub window_calls: i32,
    }
}

record! {
    /// A circuit closed: calls resume.
    pub struct ProviderCircuitClosed {
        /// Provider.
        pub provider: String,
        /// Cloud project.
        pub cloud_project_id: String,
        /// Region.
        pub region: Region,
        /// Failure rate over the window, 0.0 to 1.0.
        pub failure_rate: f64,
        /// Calls in the window.
        pub window_calls: i32,
    }
}

record! {
    /// A circuit's open time is over: a few probe calls go through, and their outcome closes
    /// it or opens it again.
    pub struct ProviderCircuitHalfOpened {
        /// Provider.
        pub provider: String,
        /// Cloud project.
        pub cloud_project_id: String,
        /// Region.
        pub region: Region,
        /// Failure rate over the window when the circuit changed, 0.0 to 1.0.
        pub failure_rate: f64,
        /// Calls in that window.
        pub window_calls: i32,
    }
}

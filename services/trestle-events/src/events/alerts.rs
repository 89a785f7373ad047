//! Events of the `alerts` topic: monitored conditions crossing their thresholds.

use uuid::Uuid;

use crate::enums::{AlertKind, AlertSeverity};

record! {
    /// A condition crossed its threshold.
    pub struct AlertRaised {
        /// Shared with the matching [`AlertResolved`].
        pub alert_id: Uuid,
        /// Condition watched.
        pub kind: AlertKind,
        /// Urgency.
        pub severity: AlertSeverity,
        /// What it is about.
        pub subject: String,
        /// Measured value.
        pub value: f64,
        /// Threshold crossed.
        pub threshold: f64,
    }
}

record! {
    /// A raised alert's condition is back under its threshold.
    pub struct AlertResolved {
        /// As in the [`AlertRaised`].
        pub alert_id: Uuid,
        /// Condition watched.
        pub kind: AlertKind,
        /// Urgency.
        pub severity: AlertSeverity,
        /// What it is about.
        pub subject: String,
        /// Measured value.
        pub value: f64,
        /// Threshold.
        pub threshold: f64,
    }
}

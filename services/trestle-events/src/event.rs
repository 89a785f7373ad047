//! `Event`: the sum of every event type, with its name, topic and envelope.

use apache_avro::types::Value;
use serde::{Deserialize, Serialize};

use crate::events::{
    ai_outcomes::*, ai_requests::*, alerts::*, cloud_projects::*, jobs::*, notebooks::*,
    price_books::*, providers::*, tenants::*, timers::*, usage::*,
};
use crate::value::{Fields, Record};
use crate::{Error, Meta, Topic};

macro_rules! events {
    ($( $topic:ident => [ $($name:ident),* $(,)? ], )*) => {
        /// Any Trestle event. The variant name is the Avro record name and the schema file name.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type")]
        pub enum Event {
            $($(
                #[doc = concat!("Defined by `schemas/<topic>/", stringify!($name), ".avsc`.")]
                $name($name),
            )*)*
        }

        impl Event {
            /// Every event type name, grouped by topic.
            pub const NAMES: &'static [&'static str] = &[$($(stringify!($name),)*)*];

            /// The envelope.
            pub fn meta(&self) -> &Meta {
                match self { $($(Event::$name(e) => &e.meta,)*)* }
            }

            /// The envelope, mutably.
            pub fn meta_mut(&mut self) -> &mut Meta {
                match self { $($(Event::$name(e) => &mut e.meta,)*)* }
            }

            /// The event type name, e.g. `"AiRequestSubmitted"`.
            pub fn name(&self) -> &'static str {
                match self { $($(Event::$name(_) => stringify!($name),)*)* }
            }

            /// The topic it is published to.
            pub fn topic(&self) -> Topic {
                match self { $($(Event::$name(_) => Topic::$topic,)*)* }
            }

            /// The topic of the event type called `name`.
            pub fn topic_of(name: &str) -> Option<Topic> {
                match name {
                    $($(stringify!($name) => Some(Topic::$topic),)*)*
                    _ => None,
                }
            }

            /// Every field, envelope first, as plain Avro values.
            pub(crate) fn avro_fields(&self) -> Vec<(String, Value)> {
                let mut out = Vec::with_capacity(16);
                match self { $($(Event::$name(e) => e.push_fields(&mut out),)*)* }
                out
            }

            /// The event of type `name` from a decoded record's fields.
            pub(crate) fn from_fields(name: &'static str, fields: Vec<(String, Value)>) -> Result<Event, Error> {
                let mut fields = Fields { event: name, fields };
                match name {
                    $($(stringify!($name) => $name::from_fields(&mut fields).map(Event::$name),)*)*
                    _ => Err(Error::UnknownEvent { name: name.to_owned() }),
                }
            }
        }

        $($(
            impl From<$name> for Event {
                fn from(e: $name) -> Event {
                    Event::$name(e)
                }
            }
        )*)*
    };
}

events! {
    Tenants => [CompanyRegistered, TenantProvisioned, CompanyReady, ApiKeyIssued, ApiKeyRevoked, TenantMoveStarted, TenantMoved],
    AiRequests => [AiRequestSubmitted],
    AiOutcomes => [AiRequestCompleted, AiRequestFailed, AiRequestThrottled, AiRequestServedFromCache, AiRequestRerouted, AiRequestsExpired],
    Usage => [UsageRecorded],
    Jobs => [JobCreated, JobCompleted, JobReopened, JobTierDue, JobNotebookRequested, KnowledgeBaseRequested, DocumentAdded, DocumentSyncRequested, DocumentSynced, DocumentSyncFailed],
    Notebooks => [NotebookCreated, NotebookDemoted, NotebookArchived, NotebookRecreated],
    Providers => [ProviderCircuitOpened, ProviderCircuitHalfOpened, ProviderCircuitClosed],
    Alerts => [AlertRaised, AlertResolved],
    PriceBooks => [PriceBookPublished],
    CloudProjects => [CloudProjectRegistered, CloudProjectMaintenanceSet, CloudProjectLimitSet],
    Timers => [TimerScheduled, TimerCancelled, TimerFired],
}

impl Event {
    /// The record key it is published under, as `topics.toml` declares it: the company_id as
    /// its canonical (lowercase, hyphenated) UUID string, except on the platform-scoped
    /// `providers` topic, where it is `provider/project/region` so one circuit's transitions
    /// stay in order on one partition, and on `price-books`, where it is the constant
    /// [`crate::PRICE_BOOK_KEY`] so every version stays in order on one partition, and on
    /// `cloud-projects`, where it is the cloud_project_id so one project's registration and
    /// settings stay in publishing order.
    pub fn key(&self) -> String {
        let circuit = |provider: &str, project: &str, region: crate::Region| {
            format!("{provider}/{project}/{region}")
        };
        match self {
            Event::ProviderCircuitOpened(e) => circuit(&e.provider, &e.cloud_project_id, e.region),
            Event::ProviderCircuitHalfOpened(e) => {
                circuit(&e.provider, &e.cloud_project_id, e.region)
            }
            Event::ProviderCircuitClosed(e) => circuit(&e.provider, &e.cloud_project_id, e.region),
            Event::PriceBookPublished(_) => crate::PRICE_BOOK_KEY.to_owned(),
            Event::CloudProjectRegistered(e) => e.cloud_project_id.clone(),
            Event::CloudProjectMaintenanceSet(e) => e.cloud_project_id.clone(),
            Event::CloudProjectLimitSet(e) => e.cloud_project_id.clone(),
            other => company_key(&other.meta().company_id),
        }
    }
}

/// The record key of a company's events: its canonical (lowercase, hyphenated) UUID string.
pub fn company_key(company_id: &uuid::Uuid) -> String {
    company_id.hyphenated().to_string()
}

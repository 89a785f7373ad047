//! Company registration, shared by the admin API (`POST /v1/companies` on trestle-ingest's
//! admin listener) and the operator CLI (`trestle-admin company register`):
//!
//! - [`RegionTable`]: which data-residency region a country's companies live in (ISO 3166-1
//!   alpha-2 code → `trestle_events::Region`), configurable as `[regions.countries]`; the
//!   default puts EU/EEA/UK/CH in `eu`, the Americas in `us` and Asia-Pacific in `apac`.
//! - [`RegistrationRequest`] → [`Registration`]: a sign-up as submitted, validated field by
//!   field (an [`InvalidField`] names the field), then [`Registration::into_event`] gives the
//!   `CompanyRegistered` to publish, with a new company id and the region from the table.
//!
//! No I/O: publishing is the caller's.

mod error;
mod regions;
mod registration;

pub use error::{Error, InvalidField, UnknownCountry};
pub use regions::RegionTable;
pub use registration::{Registration, RegistrationRequest, MAX_NAME_CHARS};

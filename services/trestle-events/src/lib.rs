//! The Trestle event contract: a Rust type for every event defined in `schemas/*.avsc`, and
//! their Avro single-object encoding.
//!
//! **Architecture invariant:** this is the only crate that knows Avro. Others see [`Event`],
//! [`encode`], [`decode`] and the [`Registry`]; no Avro type appears in this API.
//!
//! - [`encode`] writes `C3 01`, the 8-byte little-endian CRC-64-AVRO fingerprint of the current
//!   schema's Parsing Canonical Form, then the Avro binary body.
//! - [`decode`] looks the writer schema up by fingerprint among every version ever released
//!   (`schemas/history/`), and resolves the body to the current schema.
//! - The canonical form and fingerprint are computed here from the spec ([`canonical_form`],
//!   [`crc64_avro`]), not by the Avro library, whose canonical form differs for logical types.

mod canonical;
mod codec;
mod compat;
mod enums;
mod error;
mod event;
mod events;
mod meta;
mod rabin;
mod registry;
mod topic;
mod value;

pub use canonical::canonical_form;
pub use codec::{decode, encode, read_header, HEADER_LEN, MARKER};
pub use compat::check_full_transitive;
pub use enums::*;
pub use error::{AvroError, Error};
pub use event::{company_key, Event};
pub use events::{
    ai_outcomes::*, ai_requests::*, alerts::*, cloud_projects::*, jobs::*, notebooks::*,
    price_books::*, providers::*, tenants::*, timers::*, usage::*,
};
pub use meta::{now_micros, Meta, PLATFORM_COMPANY_ID};
pub use rabin::{crc64_avro, EMPTY as CRC64_AVRO_EMPTY};
pub use registry::{fingerprint, registry, schema_json, Registry, SchemaVersion};
pub use topic::Topic;

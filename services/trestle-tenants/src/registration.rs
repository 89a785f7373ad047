//! A company's sign-up: [`RegistrationRequest`] as submitted, [`Registration`] once every field
//! is valid, and the `CompanyRegistered` event it becomes.

use serde::{Deserialize, Serialize};
use trestle_events::{CompanyRegistered, IsolationLevel, Meta, Tier};
use uuid::Uuid;

use crate::error::{InvalidField, UnknownCountry};
use crate::regions::{normalize, RegionTable};
use crate::Error;

/// Longest accepted company name, in characters (after trimming).
pub const MAX_NAME_CHARS: usize = 200;

/// A sign-up as submitted (the JSON body of `POST /v1/companies`; the CLI's flags). Strings
/// throughout, so [`RegistrationRequest::validate`] names the field of any bad value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationRequest {
    /// Display name: 1 to [`MAX_NAME_CHARS`] characters once trimmed.
    pub name: String,
    /// ISO 3166-1 alpha-2 country code, any case (`DE`, `de`).
    pub country: String,
    /// `starter`, `professional`, `premium` or `enterprise`.
    pub tier: String,
    /// `shared` (when absent) or `dedicated` (enterprise only).
    #[serde(default)]
    pub isolation: Option<String>,
}

/// A valid registration: every field checked, ready to become `CompanyRegistered`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    name: String,
    country: String,
    tier: Tier,
    isolation: IsolationLevel,
}

impl RegistrationRequest {
    /// Checks every field, in the order name, country, tier, isolation; the first bad one is
    /// the error.
    pub fn validate(self) -> Result<Registration, InvalidField> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(InvalidField::new("name", "must not be empty"));
        }
        let chars = name.chars().count();
        if chars > MAX_NAME_CHARS {
            return Err(InvalidField::new(
                "name",
                format!("has {chars} characters, more than the limit of {MAX_NAME_CHARS}"),
            ));
        }
        let country = normalize(&self.country).ok_or_else(|| {
            InvalidField::new(
                "country",
                format!(
                    "must be an ISO 3166-1 alpha-2 code (two ASCII letters, e.g. DE), got {:?}",
                    self.country
                ),
            )
        })?;
        let tier = match self.tier.parse::<Tier>() {
            Ok(tier) if tier != Tier::Unknown => tier,
            _ => {
                return Err(InvalidField::new(
                    "tier",
                    format!(
                        "must be starter, professional, premium or enterprise, got {:?}",
                        self.tier
                    ),
                ))
            }
        };
        let isolation = match self.isolation.as_deref() {
            None | Some("shared") => IsolationLevel::Shared,
            Some("dedicated") if tier == Tier::Enterprise => IsolationLevel::Dedicated,
            Some("dedicated") => {
                return Err(InvalidField::new(
                    "isolation",
                    format!("dedicated is only for the enterprise tier, not {tier}"),
                ))
            }
            Some(other) => {
                return Err(InvalidField::new(
                    "isolation",
                    format!("must be shared or dedicated, got {other:?}"),
                ))
            }
        };
        Ok(Registration {
            name: name.to_owned(),
            country,
            tier,
            isolation,
        })
    }

    /// [`validate`](Self::validate), then [`Registration::into_event`].
    pub fn into_event(self, regions: &RegionTable) -> Result<CompanyRegistered, Error> {
        Ok(self.validate()?.into_event(regions)?)
    }
}

impl Registration {
    /// The trimmed display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The country code, uppercase.
    pub fn country(&self) -> &str {
        &self.country
    }

    /// The subscription tier (never `Unknown`).
    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// Shared, or dedicated (enterprise only).
    pub fn isolation(&self) -> IsolationLevel {
        self.isolation
    }

    /// The event to publish: a new company (UUIDv7 company id, root of its lifecycle) in the
    /// region `regions` gives its country. Fails if the table has no entry for the country.
    pub fn into_event(self, regions: &RegionTable) -> Result<CompanyRegistered, UnknownCountry> {
        let region = regions.region_of(&self.country)?;
        Ok(CompanyRegistered {
            meta: Meta::root(Uuid::now_v7()),
            name: self.name,
            tier: self.tier,
            country: self.country,
            region,
            isolation: self.isolation,
        })
    }
}

#[cfg(test)]
mod tests {
    use trestle_events::Region;

    use super::*;

    fn request(
        name: &str,
        country: &str,
        tier: &str,
        isolation: Option<&str>,
    ) -> RegistrationRequest {
        RegistrationRequest {
            name: name.into(),
            country: country.into(),
            tier: tier.into(),
            isolation: isolation.map(str::to_owned),
        }
    }

    #[test]
    fn a_valid_request_becomes_a_new_company_in_its_countrys_region() {
        let table = RegionTable::default();
        let event = request("  Bau & Söhne GmbH ", "de", "premium", None)
            .into_event(&table)
            .unwrap();
        assert_eq!(event.name, "Bau & Söhne GmbH");
        assert_eq!(event.country, "DE");
        assert_eq!(event.tier, Tier::Premium);
        assert_eq!(event.region, Region::Eu);
        assert_eq!(event.isolation, IsolationLevel::Shared);
        assert_eq!(event.meta.company_id.get_version_num(), 7, "UUIDv7");
        assert_eq!(
            event.meta.correlation_id, event.meta.event_id,
            "a root event"
        );

        let other = request("Bau & Söhne GmbH", "DE", "premium", None)
            .into_event(&table)
            .unwrap();
        assert_ne!(
            other.meta.company_id, event.meta.company_id,
            "a new company each time"
        );
    }

    #[test]
    fn an_enterprise_company_may_ask_for_dedicated_capacity() {
        let event = request("Obayashi", "JP", "enterprise", Some("dedicated"))
            .into_event(&RegionTable::default())
            .unwrap();
        assert_eq!(event.isolation, IsolationLevel::Dedicated);
        assert_eq!(event.region, Region::Apac);
        let shared = request("Obayashi", "JP", "enterprise", Some("shared"))
            .validate()
            .unwrap();
        assert_eq!(shared.isolation(), IsolationLevel::Shared);
    }

    /// Each bad request and the field its error must name.
    #[test]
    fn a_bad_field_is_refused_naming_the_field() {
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        let cases = [
            (request("", "DE", "starter", None), "name"),
            (request("   ", "DE", "starter", None), "name"),
            (request(&long, "DE", "starter", None), "name"),
            (request("Acme", "", "starter", None), "country"),
            (request("Acme", "DEU", "starter", None), "country"),
            (request("Acme", "D1", "starter", None), "country"),
            (request("Acme", "DE", "gold", None), "tier"),
            (request("Acme", "DE", "unknown", None), "tier"),
            (request("Acme", "DE", "Premium", None), "tier"),
            (
                request("Acme", "DE", "premium", Some("dedicated")),
                "isolation",
            ),
            (
                request("Acme", "DE", "starter", Some("dedicated")),
                "isolation",
            ),
            (
                request("Acme", "DE", "enterprise", Some("private")),
                "isolation",
            ),
            (
                request("Acme", "DE", "enterprise", Some("unknown")),
                "isolation",
            ),
        ];
        for (bad, field) in cases {
            let error = bad.clone().validate().unwrap_err();
            assert_eq!(error.field, field, "{bad:?}: {error}");
            assert!(error.to_string().starts_with(field), "{error}");
        }
    }

    #[test]
    fn a_name_of_exactly_the_limit_is_accepted_counting_characters_not_bytes() {
        let name = "ß".repeat(MAX_NAME_CHARS);
        let valid = request(&name, "DE", "starter", None).validate().unwrap();
        assert_eq!(valid.name(), name);
    }

    #[test]
    fn a_well_formed_country_outside_the_table_is_unknown() {
        let error = request("Acme", "za", "starter", None)
            .into_event(&RegionTable::default())
            .unwrap_err();
        assert_eq!(
            error,
            Error::UnknownCountry(UnknownCountry {
                country: "ZA".into()
            })
        );
    }

    #[test]
    fn the_request_body_refuses_unknown_fields_and_defaults_isolation() {
        let body: RegistrationRequest =
            serde_json::from_str(r#"{"name":"Acme","country":"US","tier":"starter"}"#).unwrap();
        assert_eq!(body.isolation, None);
        let unknown = serde_json::from_str::<RegistrationRequest>(
            r#"{"name":"Acme","country":"US","tier":"starter","region":"eu"}"#,
        )
        .unwrap_err();
        assert!(unknown.to_string().contains("region"), "{unknown}");
    }
}

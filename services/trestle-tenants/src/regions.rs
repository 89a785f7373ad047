//! [`RegionTable`]: the data-residency region of each country (ISO 3166-1 alpha-2), with the
//! default table and its validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trestle_events::Region;

use crate::error::{Error, UnknownCountry};

/// EU member states, the rest of the EEA (IS, LI, NO), the United Kingdom (GB) and Switzerland.
const EU: &[&str] = &[
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", // EU
    "IS", "LI", "NO", // EEA
    "GB", "CH",
];

/// Every sovereign state of North America (with Central America and the Caribbean) and South
/// America, plus Puerto Rico.
const US: &[&str] = &[
    "US", "CA", "MX", "PR", // North America
    "BZ", "CR", "SV", "GT", "HN", "NI", "PA", // Central America
    "AG", "BS", "BB", "CU", "DM", "DO", "GD", "HT", "JM", "KN", "LC", "VC", "TT", // Caribbean
    "AR", "BO", "BR", "CL", "CO", "EC", "GY", "PY", "PE", "SR", "UY", "VE", // South America
];

/// East, South-East and South Asia, Oceania and the Pacific islands.
const APAC: &[&str] = &[
    "AU", "NZ", "JP", "KR", "CN", "HK", "MO", "TW", "MN", // East Asia, Oceania
    "SG", "MY", "TH", "VN", "PH", "ID", "BN", "KH", "LA", "MM", "TL", // South-East Asia
    "IN", "BD", "LK", "NP", "BT", "MV", "PK", // South Asia
    "FJ", "PG", "SB", "VU", "WS", "TO", "KI", "TV", "NR", "PW", "FM", "MH", // Pacific
];

/// Which region a country's companies are registered in: ISO 3166-1 alpha-2 code → region.
///
/// Configured as `[regions.countries]` (`DE = "eu"`); entries there add to or override the
/// default table (a configuration cannot remove a default country). Codes are matched
/// case-insensitively and stored uppercase; a key that is not two ASCII letters, or a region
/// of `unknown`, is refused when the configuration is loaded. A country in no entry is refused
/// at registration ([`UnknownCountry`]), so a company is never placed in a region by guess.
///
/// Default: the EU, the EEA, the UK and Switzerland → `eu`; every country of North, Central and
/// South America and the Caribbean → `us`; Asia-Pacific (AU, NZ, JP, KR, CN, IN, SG, …) →
/// `apac`. Other countries (the Middle East, Africa, the rest of Europe) are not placed until an
/// operator decides where their data may live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TableConfig", into = "TableConfig")]
pub struct RegionTable {
    countries: BTreeMap<String, Region>,
}

/// The table as configuration writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableConfig {
    /// ISO 3166-1 alpha-2 country code → region (`us`, `eu`, `apac`).
    #[serde(default)]
    countries: BTreeMap<String, Region>,
}

impl RegionTable {
    /// A table of exactly these entries (not merged with the default); fails naming the first
    /// key that is not two ASCII letters, a code given twice (in different case), or an entry
    /// whose region is `unknown`.
    pub fn new<'a>(entries: impl IntoIterator<Item = (&'a str, Region)>) -> Result<Self, Error> {
        let mut countries = BTreeMap::new();
        for (code, region) in entries {
            let invalid = |problem: &str| Error::InvalidTableEntry {
                country: code.to_owned(),
                problem: problem.to_owned(),
            };
            let normal = normalize(code)
                .ok_or_else(|| invalid("not two ASCII letters (ISO 3166-1 alpha-2)"))?;
            if region == Region::Unknown {
                return Err(invalid("`unknown` is not a region; use us, eu or apac"));
            }
            if countries.insert(normal, region).is_some() {
                return Err(invalid("the country is listed twice"));
            }
        }
        Ok(RegionTable { countries })
    }

    /// The region of `country` (any case, e.g. `de` or `DE`); [`UnknownCountry`] if the table
    /// has no entry for it, which includes anything that is not two ASCII letters.
    pub fn region_of(&self, country: &str) -> Result<Region, UnknownCountry> {
        normalize(country)
            .and_then(|code| self.countries.get(&code).copied())
            .ok_or_else(|| UnknownCountry {
                country: country.to_owned(),
            })
    }

    /// Every entry, by uppercase country code.
    pub fn countries(&self) -> impl Iterator<Item = (&str, Region)> + '_ {
        self.countries.iter().map(|(code, r)| (code.as_str(), *r))
    }
}

impl Default for RegionTable {
    fn default() -> Self {
        let entries = [(EU, Region::Eu), (US, Region::Us), (APAC, Region::Apac)]
            .into_iter()
            .flat_map(|(codes, region)| codes.iter().map(move |code| (*code, region)));
        RegionTable::new(entries).expect("the default region table is valid")
    }
}

impl TryFrom<TableConfig> for RegionTable {
    type Error = Error;

    fn try_from(config: TableConfig) -> Result<Self, Error> {
        RegionTable::new(config.countries.iter().map(|(code, r)| (code.as_str(), *r)))
    }
}

impl From<RegionTable> for TableConfig {
    fn from(table: RegionTable) -> Self {
        TableConfig {
            countries: table.countries,
        }
    }
}

/// `code` in uppercase if it is two ASCII letters.
pub(crate) fn normalize(code: &str) -> Option<String> {
    (code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| code.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_table_places_europe_the_americas_and_asia_pacific() {
        let table = RegionTable::default();
        let cases = [
            ("DE", Region::Eu),
            ("FR", Region::Eu),
            ("NO", Region::Eu),
            ("GB", Region::Eu),
            ("CH", Region::Eu),
            ("US", Region::Us),
            ("CA", Region::Us),
            ("MX", Region::Us),
            ("BR", Region::Us),
            ("AR", Region::Us),
            ("AU", Region::Apac),
            ("NZ", Region::Apac),
            ("JP", Region::Apac),
            ("KR", Region::Apac),
            ("CN", Region::Apac),
            ("IN", Region::Apac),
            ("SG", Region::Apac),
        ];
        for (country, region) in cases {
            assert_eq!(table.region_of(country), Ok(region), "{country}");
        }
    }

    #[test]
    fn default_table_places_no_country_twice_and_only_real_regions() {
        let total = EU.len() + US.len() + APAC.len();
        let table = RegionTable::default();
        assert_eq!(table.countries().count(), total, "a code listed twice");
        assert!(table.countries().all(|(_, r)| r != Region::Unknown));
    }

    #[test]
    fn country_codes_match_in_any_case() {
        let table = RegionTable::default();
        for code in ["de", "De", "dE", "DE"] {
            assert_eq!(table.region_of(code), Ok(Region::Eu), "{code}");
        }
    }

    #[test]
    fn countries_outside_the_table_and_malformed_codes_are_unknown() {
        let table = RegionTable::default();
        for code in ["ZA", "TR", "AE", "XX", "", "D", "DEU", "D1", "Ü1", " DE"] {
            assert_eq!(
                table.region_of(code),
                Err(UnknownCountry {
                    country: code.to_owned()
                }),
                "{code:?}"
            );
        }
    }

    #[test]
    fn a_table_refuses_malformed_codes_duplicates_and_the_unknown_region() {
        for (entries, problem) in [
            (vec![("DEU", Region::Eu)], "two ASCII letters"),
            (vec![("d1", Region::Eu)], "two ASCII letters"),
            (vec![("ÄÖ", Region::Eu)], "two ASCII letters"),
            (vec![("DE", Region::Unknown)], "not a region"),
            (vec![("de", Region::Eu), ("DE", Region::Us)], "twice"),
        ] {
            let error = RegionTable::new(entries.clone()).unwrap_err();
            assert!(error.to_string().contains(problem), "{entries:?}: {error}");
        }
    }

    #[test]
    fn configured_codes_are_stored_uppercase() {
        let table = RegionTable::new([("tr", Region::Eu)]).unwrap();
        assert_eq!(
            table.countries().collect::<Vec<_>>(),
            vec![("TR", Region::Eu)]
        );
        assert_eq!(table.region_of("Tr"), Ok(Region::Eu));
    }

    #[test]
    fn configuration_with_an_unknown_key_or_a_bad_entry_is_refused() {
        let parse = |text: &str| toml::from_str::<RegionTable>(text).map_err(|e| e.to_string());
        assert_eq!(
            parse("[countries]\nza = \"eu\"\n").unwrap().region_of("ZA"),
            Ok(Region::Eu)
        );
        let unknown_key = parse("contries = {}\n").unwrap_err();
        assert!(unknown_key.contains("unknown field"), "{unknown_key}");
        let bad_code = parse("[countries]\nZAF = \"eu\"\n").unwrap_err();
        assert!(bad_code.contains("regions.countries.ZAF"), "{bad_code}");
        let bad_region = parse("[countries]\nZA = \"africa\"\n").unwrap_err();
        assert!(bad_region.contains("africa"), "{bad_region}");
    }

    #[test]
    fn the_table_round_trips_through_its_configuration_form() {
        let table = RegionTable::default();
        let json = serde_json::to_string(&table).unwrap();
        assert!(json.starts_with("{\"countries\":{"), "{json}");
        assert_eq!(serde_json::from_str::<RegionTable>(&json).unwrap(), table);
    }
}

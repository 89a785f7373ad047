//! The region table as a service loads it: `[regions.countries]` in a configuration file adds
//! to the default table (trestle-config merges it over the defaults) and a bad entry stops the
//! load with the entry's name.

use serde::{Deserialize, Serialize};
use trestle_events::Region;
use trestle_tenants::RegionTable;

/// A service configuration with a region table, as ingest and admin have.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    regions: RegionTable,
}

fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, trestle_config::Error> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, toml).unwrap();
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    trestle_config::load_from(Some(&path), env)
}

#[test]
fn configured_countries_add_to_and_override_the_default_table() {
    let config = load(
        "[regions.countries]\nza = \"eu\"\nMX = \"apac\"\n",
        &[("TRESTLE_REGIONS__COUNTRIES__AE", "apac")],
    )
    .unwrap();
    let regions = &config.regions;
    assert_eq!(regions.region_of("ZA"), Ok(Region::Eu), "added by the file");
    assert_eq!(
        regions.region_of("AE"),
        Ok(Region::Apac),
        "added by the environment"
    );
    assert_eq!(regions.region_of("MX"), Ok(Region::Apac), "overridden");
    assert_eq!(regions.region_of("DE"), Ok(Region::Eu), "the default stays");
    assert_eq!(
        regions.countries().count(),
        RegionTable::default().countries().count() + 2
    );
}

#[test]
fn a_bad_region_table_entry_stops_the_load_naming_it() {
    let error = load("[regions.countries]\nZAF = \"eu\"\n", &[]).unwrap_err();
    assert!(
        error.to_string().contains("regions.countries.ZAF"),
        "{error}"
    );
    let error = load("[regions]\ncountry = {}\n", &[]).unwrap_err();
    assert!(error.to_string().contains("country"), "{error}");
}

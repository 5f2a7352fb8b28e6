//! The school as Wonde describes it: `GET /schools/{id}` and the catalog
//! entries, with address, region (the API domain to use) and extended details.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::wonde::lenient;

wonde_record! {
    /// `GET /schools/{id}`, and the entries of `/schools/all` and friends.
    #[derive(Clone, Debug, Deserialize)]
    pub struct WondeSchool {
        #[serde(deserialize_with = "lenient::id")]
        pub id: String,
        pub name: Option<String>,
        /// A number in Wonde's JSON, a string in some lists: kept as text.
        pub urn: Option<String>,
        pub la_code: Option<String>,
        pub establishment_number: Option<String>,
        pub phase_of_education: Option<String>,
        pub mis: Option<String>,
        pub timezone: Option<String>,
        #[serde(default, deserialize_with = "lenient::object")]
        pub address: Option<WondeAddress>,
        #[serde(default, deserialize_with = "lenient::object")]
        pub region: Option<WondeRegion>,
        #[serde(default, deserialize_with = "lenient::object")]
        pub extended: Option<WondeSchoolExtended>,
        pub updated_at: Option<DateTime<Utc>>,
    }
}

impl WondeSchool {
    pub fn postcode(&self) -> Option<&str> {
        self.address.as_ref()?.address_postcode.as_deref()
    }

    /// The regional API domain the school's data lives on.
    pub fn region_domain(&self) -> Option<&str> {
        self.region.as_ref()?.domain.as_deref()
    }
}

wonde_record! {
    #[derive(Clone, Debug, Default, Deserialize)]
    pub struct WondeAddress {
        pub address_line_1: Option<String>,
        pub address_line_2: Option<String>,
        pub address_town: Option<String>,
        pub address_postcode: Option<String>,
    }
}

wonde_record! {
    #[derive(Clone, Debug, Default, Deserialize)]
    pub struct WondeRegion {
        pub code: Option<String>,
        pub domain: Option<String>,
        pub school_url: Option<String>,
    }
}

wonde_record! {
    #[derive(Clone, Debug, Default, Deserialize)]
    pub struct WondeSchoolExtended {
        pub allows_writeback: Option<bool>,
        pub audit_approved_at: Option<DateTime<Utc>>,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn school_urn_number_or_string_and_php_empty_arrays() -> Result<(), serde_json::Error> {
        let s: WondeSchool = serde_json::from_value(json!({"id": "A1", "urn": 10003,
            "address": {"address_postcode": "CB8 7SG", "address_country": {"code": "GBR"}},
            "region": {"domain": "api.wonde.com"}, "extended": []}))?;
        assert_eq!(s.urn.as_deref(), Some("10003"));
        assert_eq!(s.postcode(), Some("CB8 7SG"));
        assert_eq!(s.region_domain(), Some("api.wonde.com"));
        let s: WondeSchool = serde_json::from_value(json!({"id": "A1", "urn": "10003"}))?;
        assert_eq!(s.urn.as_deref(), Some("10003"));
        Ok(())
    }
}

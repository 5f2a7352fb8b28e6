//! What a caller tells the client: settings, which school with which
//! token, list and catalog filters, and the includes each endpoint asks for.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::retry::RetryPolicy;
use crate::wonde::SecretToken;

/// Wonde's UK domain; other regions come from `school.region.domain`.
pub const DEFAULT_DOMAIN: &str = "api.wonde.com";

/// Includes the sync needs, per endpoint. Guardian links come from the
/// students' `contacts` pivot; class membership and teachers from
/// `classes` (Wonde's employees→classes is known to be incomplete).
pub const STUDENT_INCLUDES: &[&str] = &["education_details", "year", "registration", "contacts"];
pub const LEAVER_INCLUDES: &[&str] = &["education_details"];
pub const EMPLOYEE_INCLUDES: &[&str] = &["employment_details", "contact_details"];
pub const CONTACT_INCLUDES: &[&str] = &["contact_details", "students"];
pub const CLASS_INCLUDES: &[&str] = &["employees", "students", "subject"];
pub const GROUP_INCLUDES: &[&str] = &["students", "employees"];

/// Client settings; `base_url` is `WONDE_API_URL`, passed in by the caller.
#[derive(Clone, Debug)]
pub struct WondeConfig {
    /// Overrides every school's regional domain (simulator, staging). When
    /// `None`, a school's requests go to `https://{region.domain}/v1.0`.
    pub base_url: Option<String>,
    pub connect_timeout: Duration,
    /// Per request, body included. Wonde is slow on large pages.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// 200 is Wonde's maximum; fewer pages means fewer chances to fail.
    /// 0 sends no `per_page` (Wonde's default of 50, and no pagination
    /// object on small answers).
    pub per_page: u32,
    pub user_agent: String,
}

impl Default for WondeConfig {
    fn default() -> Self {
        WondeConfig {
            base_url: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            per_page: 200,
            user_agent: concat!("onroll/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Which school, with which token, on which regional domain.
#[derive(Clone, Debug)]
pub struct SchoolAccess {
    pub school_id: String,
    pub token: SecretToken,
    /// `school.region.domain` once known; the UK domain until then.
    pub region_domain: Option<String>,
}

impl SchoolAccess {
    pub fn new(school_id: impl Into<String>, token: SecretToken) -> Self {
        SchoolAccess { school_id: school_id.into(), token, region_domain: None }
    }
}

/// Options of a list fetch.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    /// Incremental fetch: only records changed after this instant.
    pub updated_after: Option<DateTime<Utc>>,
    /// Replaces the endpoint's default includes.
    pub includes: Option<Vec<String>>,
}

impl ListQuery {
    pub fn updated_after(t: DateTime<Utc>) -> Self {
        ListQuery { updated_after: Some(t), includes: None }
    }
}

/// Filters of the `/schools/all` catalog search. The default is the whole
/// catalog (the first full fetch of a local mirror).
#[derive(Clone, Debug, Default)]
pub struct SchoolSearch {
    /// Prefix match ("CB21").
    pub postcode: Option<String>,
    pub urn: Option<String>,
    pub la_code: Option<String>,
    pub establishment_number: Option<String>,
    /// For the daily incremental catalog refresh: schools changed after
    /// this instant (sent to the second, `YYYY-MM-DD HH:MM:SS` UTC).
    pub updated_after: Option<DateTime<Utc>>,
}

impl SchoolSearch {
    /// The incremental catalog refresh: every school changed after `t`.
    pub fn updated_after(t: DateTime<Utc>) -> Self {
        SchoolSearch { updated_after: Some(t), ..SchoolSearch::default() }
    }
}

/// The app's school lists by access state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessList {
    Approved,
    Pending,
    Declined,
    Revoked,
    Audited,
}

/// The `YYYY-MM-DD HH:MM:SS` (UTC) form of the official README.
pub fn format_updated_after(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updated_after_format() {
        let t = DateTime::parse_from_rfc3339("2026-02-24T03:04:05.678Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(format_updated_after(t), "2026-02-24 03:04:05");
    }
}

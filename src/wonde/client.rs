//! The HTTP side: one reqwest client, URLs per school and region, bearer
//! auth, retries with backoff, and decoding that names the bad field.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::error::scrub;
use super::lenient;
use super::model::{
    AccessRequest, AccessResponse, GroupType, WondeClass, WondeContact, WondeDeletion, WondeEmployee,
    WondeGroup, WondeSchool, WondeStudent,
};
use super::paging::Pager;
use super::{SecretToken, WondeError};

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

/// How hard to try before giving up on one request. Tests use milliseconds.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff; doubles per retry, with jitter.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// No retry starts once this much time has gone on one request, so a
    /// sync fails in bounded time rather than hanging on a sick API.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with "equal jitter" (half fixed, half random), so
    /// many schools' syncs that failed together do not retry together.
    /// `Retry-After` is honoured as a floor.
    fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX))
            .min(self.max_delay);
        let half = exp / 2;
        let jitter =
            Duration::from_micros(rand::rng().random_range(0..=u64::try_from(half.as_micros()).unwrap_or(0)));
        let backoff = half + jitter;
        match retry_after {
            Some(wait) => wait + jitter.min(self.base_delay),
            None => backoff,
        }
    }
}

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

/// A Wonde API client. Cheap to clone; build one per process so connections
/// are pooled across schools.
#[derive(Clone)]
pub struct WondeClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: WondeConfig,
    base_override: Option<Url>,
}

impl std::fmt::Debug for WondeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WondeClient").field("base_url", &self.inner.config.base_url).finish_non_exhaustive()
    }
}

/// A list answer. `data: null` reads as empty; `meta`/`pagination` may be
/// missing or PHP's `[]`.
#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub(crate) struct ListEnvelope<T> {
    #[serde(default = "Vec::new", deserialize_with = "data_list")]
    pub data: Vec<T>,
    #[serde(default, deserialize_with = "lenient::object")]
    meta: Option<Meta>,
}

impl<T> ListEnvelope<T> {
    pub fn next(&self) -> Option<&str> {
        self.meta.as_ref()?.pagination.as_ref()?.next.as_deref()
    }
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(default, deserialize_with = "lenient::object")]
    pagination: Option<Pagination>,
}

#[derive(Deserialize, Default)]
struct Pagination {
    #[serde(default, deserialize_with = "lenient::string")]
    next: Option<String>,
}

fn data_list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct SingleEnvelope<T> {
    data: T,
}

impl WondeClient {
    pub fn new(config: WondeConfig) -> Result<Self, WondeError> {
        let base_override = config.base_url.as_deref().map(normalize_base).transpose()?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(config.user_agent.clone())
            .build()
            .map_err(|e| WondeError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(WondeClient { inner: Arc::new(Inner { http, config, base_override }) })
    }

    pub fn config(&self) -> &WondeConfig {
        &self.inner.config
    }

    fn base(&self, region_domain: Option<&str>) -> Result<Url, WondeError> {
        if let Some(base) = &self.inner.base_override {
            return Ok(base.clone());
        }
        let domain = region_domain.map(str::trim).filter(|d| !d.is_empty()).unwrap_or(DEFAULT_DOMAIN);
        normalize_base(&format!("https://{domain}/v1.0"))
    }

    /// `base` + path segments (percent-encoded) + query.
    fn url(
        &self,
        region_domain: Option<&str>,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Url, WondeError> {
        let mut url = self.base(region_domain)?;
        url.path_segments_mut()
            .map_err(|()| WondeError::Config("the base URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    fn list_query(
        &self,
        defaults: &[&str],
        q: &ListQuery,
        extra: &[(&'static str, String)],
    ) -> Vec<(&'static str, String)> {
        let includes = q.includes.as_ref().map_or_else(|| defaults.join(","), |i| i.join(","));
        let mut out: Vec<(&'static str, String)> = Vec::new();
        if !includes.is_empty() {
            out.push(("include", includes));
        }
        out.extend(extra.iter().cloned());
        if let Some(t) = q.updated_after {
            out.push(("updated_after", format_updated_after(t)));
        }
        self.push_per_page(&mut out);
        out
    }

    fn push_per_page(&self, query: &mut Vec<(&'static str, String)>) {
        if self.inner.config.per_page > 0 {
            query.push(("per_page", self.inner.config.per_page.to_string()));
        }
    }

    fn school_pager<T: DeserializeOwned>(
        &self,
        access: &SchoolAccess,
        collection: &str,
        defaults: &[&str],
        q: &ListQuery,
        extra: &[(&'static str, String)],
    ) -> Pager<T> {
        let endpoint = format!("schools/{}/{collection}", access.school_id);
        let query = self.list_query(defaults, q, extra);
        let url =
            self.url(access.region_domain.as_deref(), &["schools", &access.school_id, collection], &query);
        Pager::new(self.clone(), access.token.clone(), endpoint, url)
    }

    /// The school: verifies id and token (connectWonde) and gives the
    /// regional domain for later calls.
    pub async fn school(&self, access: &SchoolAccess) -> Result<WondeSchool, WondeError> {
        let endpoint = format!("schools/{}", access.school_id);
        let url = self.url(access.region_domain.as_deref(), &["schools", &access.school_id], &[])?;
        let (env, _) = self
            .fetch::<SingleEnvelope<WondeSchool>>(Method::GET, &url, &access.token, None, &endpoint, 1)
            .await?;
        Ok(env.data)
    }

    /// Students on roll, with [`STUDENT_INCLUDES`].
    pub fn students(&self, access: &SchoolAccess, q: &ListQuery) -> Pager<WondeStudent> {
        self.school_pager(access, "students", STUDENT_INCLUDES, q, &[])
    }

    /// The leavers collection (`students-leaver`), with leaving dates.
    pub fn leavers(&self, access: &SchoolAccess, q: &ListQuery) -> Pager<WondeStudent> {
        self.school_pager(access, "students-leaver", LEAVER_INCLUDES, q, &[])
    }

    pub fn employees(&self, access: &SchoolAccess, q: &ListQuery) -> Pager<WondeEmployee> {
        self.school_pager(access, "employees", EMPLOYEE_INCLUDES, q, &[])
    }

    pub fn contacts(&self, access: &SchoolAccess, q: &ListQuery) -> Pager<WondeContact> {
        self.school_pager(access, "contacts", CONTACT_INCLUDES, q, &[])
    }

    pub fn classes(&self, access: &SchoolAccess, q: &ListQuery) -> Pager<WondeClass> {
        self.school_pager(access, "classes", CLASS_INCLUDES, q, &[])
    }

    /// Groups of one type (year groups or forms), with members and staff.
    pub fn groups(&self, access: &SchoolAccess, group_type: GroupType, q: &ListQuery) -> Pager<WondeGroup> {
        self.school_pager(access, "groups", GROUP_INCLUDES, q, &[("type", group_type.as_str().to_owned())])
    }

    /// The deletions feed, optionally of one record type (`student`...).
    pub fn deletions(
        &self,
        access: &SchoolAccess,
        record_type: Option<&str>,
        q: &ListQuery,
    ) -> Pager<WondeDeletion> {
        let extra: Vec<(&'static str, String)> =
            record_type.map(|t| ("type", t.to_owned())).into_iter().collect();
        self.school_pager(access, "deletions", &[], q, &extra)
    }

    /// Pages through Wonde's whole school catalog (`/schools/all`) with the
    /// app token, filtered by `search` (none: every school; `updated_after`:
    /// the incremental refresh, which needs a full fetch first).
    pub fn search_schools(&self, app_token: &SecretToken, search: &SchoolSearch) -> Pager<WondeSchool> {
        let mut query: Vec<(&'static str, String)> = Vec::new();
        let fields = [
            ("postcode", &search.postcode),
            ("urn", &search.urn),
            ("la_code", &search.la_code),
            ("establishment_number", &search.establishment_number),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                query.push((k, v.clone()));
            }
        }
        if let Some(t) = search.updated_after {
            query.push(("updated_after", format_updated_after(t)));
        }
        self.push_per_page(&mut query);
        let url = self.url(None, &["schools", "all"], &query);
        Pager::new(self.clone(), app_token.clone(), "schools/all".to_owned(), url)
    }

    /// The app's schools in one access state.
    pub fn schools_in(&self, app_token: &SecretToken, list: AccessList) -> Pager<WondeSchool> {
        let segments: &[&str] = match list {
            AccessList::Approved => &["schools"],
            AccessList::Pending => &["schools", "pending"],
            AccessList::Declined => &["schools", "declined"],
            AccessList::Revoked => &["schools", "revoked"],
            AccessList::Audited => &["schools", "audited"],
        };
        let mut query = Vec::new();
        self.push_per_page(&mut query);
        let url = self.url(None, segments, &query);
        Pager::new(self.clone(), app_token.clone(), segments.join("/"), url)
    }

    /// Asks Wonde for access to a school, with the requester's contacts.
    /// [`AccessResponse::outcome`] tells [`AccessOutcome::Pending`] (asked)
    /// from [`AccessOutcome::AlreadyApproved`] (access exists; the caller may
    /// revoke and ask again), however loosely the answer is spelt.
    ///
    /// [`AccessOutcome::Pending`]: super::model::AccessOutcome::Pending
    /// [`AccessOutcome::AlreadyApproved`]: super::model::AccessOutcome::AlreadyApproved
    pub async fn request_access(
        &self,
        app_token: &SecretToken,
        school_id: &str,
        request: &AccessRequest,
    ) -> Result<AccessResponse, WondeError> {
        let endpoint = format!("schools/{school_id}/request-access");
        let url = self.url(None, &["schools", school_id, "request-access"], &[])?;
        let body = serde_json::to_value(request).map_err(|e| WondeError::Config(e.to_string()))?;
        let (resp, _) =
            self.fetch::<AccessResponse>(Method::POST, &url, app_token, Some(&body), &endpoint, 1).await?;
        Ok(resp)
    }

    /// Gives up access to an approved school, or withdraws a pending
    /// request: `outcome()` is [`AccessOutcome::Revoked`] when done.
    ///
    /// [`AccessOutcome::Revoked`]: super::model::AccessOutcome::Revoked
    pub async fn revoke_access(
        &self,
        app_token: &SecretToken,
        school_id: &str,
    ) -> Result<AccessResponse, WondeError> {
        let endpoint = format!("schools/{school_id}/revoke-access");
        let url = self.url(None, &["schools", school_id, "revoke-access"], &[])?;
        let (resp, _) =
            self.fetch::<AccessResponse>(Method::DELETE, &url, app_token, None, &endpoint, 1).await?;
        Ok(resp)
    }

    /// One request with retries; returns the decoded body and its size.
    pub(crate) async fn fetch<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &Url,
        token: &SecretToken,
        body: Option<&serde_json::Value>,
        endpoint: &str,
        page: u32,
    ) -> Result<(T, usize), WondeError> {
        let policy = &self.inner.config.retry;
        let started = Instant::now();
        let mut retry = 0u32;
        loop {
            let err = match self.attempt::<T>(method.clone(), url, token, body, endpoint, page).await {
                Ok(ok) => return Ok(ok),
                Err(e) => e,
            };
            if !err.is_retryable() || retry >= policy.max_retries {
                return Err(err);
            }
            let delay = policy.delay(retry, err.retry_after());
            if started.elapsed() + delay > policy.max_elapsed {
                return Err(err);
            }
            tracing::warn!(
                wonde.endpoint = endpoint,
                page,
                retry = retry + 1,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %err,
                "retrying Wonde request"
            );
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &Url,
        token: &SecretToken,
        body: Option<&serde_json::Value>,
        endpoint: &str,
        page: u32,
    ) -> Result<(T, usize), WondeError> {
        let mut request = self
            .inner
            .http
            .request(method, url.clone())
            .header(AUTHORIZATION, token.bearer()?)
            .header(ACCEPT, "application/json");
        if let Some(b) = body {
            request = request.json(b);
        }
        let response = request.send().await.map_err(|e| transport_error(&e, endpoint))?;
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(status, response.headers(), endpoint));
        }
        let bytes = response.bytes().await.map_err(|e| {
            if e.is_timeout() {
                WondeError::Timeout { endpoint: endpoint.to_owned() }
            } else {
                WondeError::Truncated { endpoint: endpoint.to_owned(), page, detail: error_chain(&e) }
            }
        })?;
        let value = decode::<T>(&bytes, endpoint, page)?;
        Ok((value, bytes.len()))
    }
}

fn normalize_base(raw: &str) -> Result<Url, WondeError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = Url::parse(&format!("{trimmed}/"))
        .map_err(|_| WondeError::Config("the Wonde base URL is not a valid URL".into()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(WondeError::Config("the Wonde base URL must be http or https".into()));
    }
    Ok(url)
}

fn status_error(status: StatusCode, headers: &HeaderMap, endpoint: &str) -> WondeError {
    let endpoint = endpoint.to_owned();
    match status.as_u16() {
        401 => WondeError::Unauthorized { endpoint },
        403 => WondeError::Forbidden { endpoint },
        404 => WondeError::NotFound { endpoint },
        429 => WondeError::RateLimited {
            endpoint,
            retry_after: headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        },
        s @ 500..=599 => WondeError::Server { endpoint, status: s },
        s => WondeError::Status { endpoint, status: s },
    }
}

fn transport_error(e: &reqwest::Error, endpoint: &str) -> WondeError {
    if e.is_timeout() {
        WondeError::Timeout { endpoint: endpoint.to_owned() }
    } else {
        WondeError::Connection { endpoint: endpoint.to_owned(), detail: error_chain(e) }
    }
}

/// The causes of a reqwest error, without the URL reqwest puts first.
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    if parts.is_empty() { "transport error".to_owned() } else { parts.join(": ") }
}

/// Decodes a body; on failure, decodes again tracking the path so the error
/// names the field (the fast path pays nothing for that).
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], endpoint: &str, page: u32) -> Result<T, WondeError> {
    let first = match serde_json::from_slice::<T>(bytes) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    if first.is_eof() {
        return Err(WondeError::Truncated {
            endpoint: endpoint.to_owned(),
            page,
            detail: "the JSON ends early".into(),
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let (field, detail) = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) => (e.path().to_string(), scrub(&e.inner().to_string())),
        Ok(_) => (".".to_owned(), scrub(&first.to_string())),
    };
    Err(WondeError::Decode {
        endpoint: endpoint.to_owned(),
        page,
        record: record_id(bytes, &field),
        field,
        detail,
    })
}

/// The id of the list element a path like `data[17].x` points into.
fn record_id(bytes: &[u8], field: &str) -> Option<String> {
    let index: usize = field.strip_prefix("data[")?.split(']').next()?.parse().ok()?;
    let doc: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    match doc.get("data")?.get(index)?.get("id")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
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

    #[test]
    fn backoff_grows_and_honours_retry_after() {
        let p = RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_elapsed: Duration::from_secs(10),
        };
        let d0 = p.delay(0, None);
        assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100), "{d0:?}");
        let d3 = p.delay(3, None);
        assert!(d3 >= Duration::from_millis(400) && d3 <= Duration::from_millis(800), "{d3:?}");
        assert!(p.delay(30, None) <= Duration::from_millis(1000));
        assert!(p.delay(0, Some(Duration::from_secs(2))) >= Duration::from_secs(2));
    }

    #[test]
    fn decode_names_field_and_record() {
        let body = br#"{"data":[{"id":"A1"},{"id":"A2","date_of_birth":"not a date"}]}"#;
        let err = decode::<ListEnvelope<WondeStudent>>(body, "schools/X/students", 4).err();
        match err {
            Some(WondeError::Decode { field, record, page, .. }) => {
                assert_eq!(field, "data[1].date_of_birth");
                assert_eq!(record.as_deref(), Some("A2"));
                assert_eq!(page, 4);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn decode_tells_truncation_from_bad_data() {
        let body = br#"{"data":[{"id":"A1"},{"id":"A2","forena"#;
        assert!(matches!(
            decode::<ListEnvelope<WondeStudent>>(body, "s", 1),
            Err(WondeError::Truncated { .. })
        ));
        assert!(matches!(
            decode::<ListEnvelope<WondeStudent>>(b"<html>", "s", 1),
            Err(WondeError::Decode { .. })
        ));
    }

    #[test]
    fn envelope_without_meta_or_with_php_empty_arrays() -> Result<(), WondeError> {
        let env = decode::<ListEnvelope<WondeStudent>>(br#"{"data":[{"id":"A1"}]}"#, "s", 1)?;
        assert_eq!((env.data.len(), env.next()), (1, None));
        let env = decode::<ListEnvelope<WondeStudent>>(br#"{"data":null,"meta":[]}"#, "s", 1)?;
        assert!(env.data.is_empty());
        let env = decode::<ListEnvelope<WondeStudent>>(
            br#"{"data":[],"meta":{"pagination":{"next":"http://x/y?page=2","more":true}}}"#,
            "s",
            1,
        )?;
        assert_eq!(env.next(), Some("http://x/y?page=2"));
        Ok(())
    }

    #[test]
    fn urls_per_region_and_override() -> Result<(), WondeError> {
        let c = WondeClient::new(WondeConfig::default())?;
        let u = c.url(
            Some("api-ap-southeast-2.wonde.com"),
            &["schools", "A1", "students"],
            &[("per_page", "200".into())],
        )?;
        assert_eq!(u.as_str(), "https://api-ap-southeast-2.wonde.com/v1.0/schools/A1/students?per_page=200");
        let c = WondeClient::new(WondeConfig {
            base_url: Some("http://127.0.0.1:9/v1.0/".into()),
            ..WondeConfig::default()
        })?;
        let u = c.url(Some("api.wonde.com"), &["schools", "A 1"], &[])?;
        assert_eq!(u.as_str(), "http://127.0.0.1:9/v1.0/schools/A%201");
        Ok(())
    }
}

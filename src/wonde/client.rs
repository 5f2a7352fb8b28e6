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

/// A decoded answer that can tell whether it is whole: a `200` whose body
/// says `error`, or lacks its `data`, is a failed fetch, never an empty one.
pub(crate) trait Answer: DeserializeOwned {
    /// Why the answer is not whole, in words for an administrator (Wonde's
    /// own text in it is cleaned by the caller); `None` when it is whole.
    fn incomplete(&self) -> Option<String>;
}

/// A list answer: a JSON object with a `data` array (empty is fine) and no
/// `error`. `meta`/`pagination` may be missing or PHP's `[]`.
#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub(crate) struct ListEnvelope<T> {
    /// Absent or `null` reads as `None`: not whole.
    #[serde(default)]
    data: Option<DataList<T>>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "lenient::object")]
    meta: Option<Meta>,
}

impl<T> ListEnvelope<T> {
    pub fn next(&self) -> Option<&str> {
        self.meta.as_ref()?.pagination.as_ref()?.next.as_deref()
    }

    /// The records; empty for an answer that [`Answer::incomplete`] refused.
    pub fn into_records(self) -> Vec<T> {
        match self.data {
            Some(DataList::Records(records)) => records,
            _ => Vec::new(),
        }
    }
}

impl<T: DeserializeOwned> Answer for ListEnvelope<T> {
    fn incomplete(&self) -> Option<String> {
        if let Some(said) = self.error.as_ref().and_then(error_text) {
            return Some(format!("Wonde answered with an error instead of the records: {said}"));
        }
        match &self.data {
            Some(DataList::Records(_)) => None,
            Some(DataList::Not(what)) => Some(format!("its `data` is {what}, not a list of records")),
            None => Some("it has no `data` list".to_owned()),
        }
    }
}

/// A list's `data` member: the records, or what came instead of an array.
enum DataList<T> {
    Records(Vec<T>),
    Not(&'static str),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for DataList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DataListVisitor(std::marker::PhantomData))
    }
}

struct DataListVisitor<T>(std::marker::PhantomData<fn() -> T>);

impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for DataListVisitor<T> {
    type Value = DataList<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of records")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1000));
        while let Some(record) = seq.next_element()? {
            records.push(record);
        }
        Ok(DataList::Records(records))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
        Ok(DataList::Not("an object"))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(DataList::Not("null"))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(DataList::Not("a boolean"))
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(DataList::Not("a number"))
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(DataList::Not("a number"))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(DataList::Not("a number"))
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(DataList::Not("a string"))
    }
}

/// What an `error` member says; `None` for `null` and `false`, which some
/// APIs send to mean "no error". Anything else is an error, even when its
/// text is empty.
fn error_text(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    fn text(v: Option<&serde_json::Value>) -> Option<&str> {
        v.and_then(serde_json::Value::as_str).map(str::trim).filter(|t| !t.is_empty())
    }
    match value {
        Value::Null | Value::Bool(false) => None,
        Value::String(s) if !s.trim().is_empty() => Some(format!("\"{}\"", s.trim())),
        Value::Object(fields) => Some(
            text(fields.get("message").or_else(|| fields.get("description")))
                .map_or_else(|| "an error object".to_owned(), |t| format!("\"{t}\"")),
        ),
        _ => Some("an error without words".to_owned()),
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

/// A single record's answer: a `data` object and no `error`.
#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct SingleEnvelope<T> {
    #[serde(default)]
    data: Option<T>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

impl<T: DeserializeOwned> Answer for SingleEnvelope<T> {
    fn incomplete(&self) -> Option<String> {
        if let Some(said) = self.error.as_ref().and_then(error_text) {
            return Some(format!("Wonde answered with an error instead of the record: {said}"));
        }
        self.data.is_none().then(|| "it has no `data` record".to_owned())
    }
}

impl Answer for AccessResponse {
    /// Request-access and revoke answers are read however loosely they are
    /// spelt ([`AccessResponse::outcome`]); an unreadable one is `Unknown`.
    fn incomplete(&self) -> Option<String> {
        None
    }
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
        env.data.ok_or_else(|| WondeError::Incomplete {
            endpoint,
            page: 1,
            detail: "it has no `data` record".to_owned(),
        })
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
        match self.fetch::<AccessResponse>(Method::POST, &url, app_token, Some(&body), &endpoint, 1).await {
            Ok((resp, _)) => Ok(resp),
            Err(err) => already_approved(&err).ok_or(err),
        }
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
    pub(crate) async fn fetch<T: Answer>(
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

    async fn attempt<T: Answer>(
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
            let headers = response.headers().clone();
            let message = error_body(response, token).await;
            return Err(status_error(status, &headers, endpoint, message));
        }
        let bytes = response.bytes().await.map_err(|e| {
            if e.is_timeout() {
                WondeError::Timeout { endpoint: endpoint.to_owned() }
            } else {
                WondeError::Truncated { endpoint: endpoint.to_owned(), page, detail: error_chain(&e) }
            }
        })?;
        let value = decode::<T>(&bytes, endpoint, page)?;
        if let Some(detail) = value.incomplete() {
            let detail = super::error::wonde_message(&detail, Some(token.expose_secret()))
                .unwrap_or_else(|| "it is not whole".to_owned());
            return Err(WondeError::Incomplete { endpoint: endpoint.to_owned(), page, detail });
        }
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
    // Wonde's paths sit under a version (`/v1.0`); without it every call
    // would answer 404, which reads as "no school with that id" much later.
    let versioned =
        url.path_segments().and_then(|mut segments| segments.rfind(|s| !s.is_empty())).is_some_and(|last| {
            last.len() > 1
                && last.starts_with('v')
                && last[1..].chars().all(|c| c.is_ascii_digit() || c == '.')
        });
    if !versioned {
        return Err(WondeError::Config(format!(
            "the Wonde base URL must end with Wonde's API version, as in https://api.wonde.com/v1.0 (its path is `{}`)",
            url.path()
        )));
    }
    Ok(url)
}

/// A request-access refused because access exists already: Wonde answers
/// 400 whose message says access is already approved (issue 10); 409 and 422 are read
/// the same way. It is an answer, not a failure: the caller may revoke and
/// ask again.
fn already_approved(err: &WondeError) -> Option<AccessResponse> {
    let WondeError::Status { status: 400 | 409 | 422, message: Some(message), .. } = err else {
        return None;
    };
    let lower = message.to_ascii_lowercase();
    (lower.contains("already") && lower.contains("approved")).then(|| AccessResponse {
        success: Some(false),
        state: Some("approved".to_owned()),
        message: Some(message.clone()),
    })
}

/// Bodies of refusals longer than this are not read further.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// Wonde's words in a refusal's body (`error`, `message` or
/// `error_description` of a JSON body, or short plain text), cleaned of
/// anything token-like. The body is read up to [`MAX_ERROR_BODY`] bytes.
async fn error_body(mut response: reqwest::Response, token: &SecretToken) -> Option<String> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_ERROR_BODY {
            body.truncate(MAX_ERROR_BODY);
            break;
        }
    }
    let raw = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(doc) => {
            let field = |name: &str| match doc.get(name) {
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
                Some(serde_json::Value::Object(o)) => {
                    o.get("message").and_then(serde_json::Value::as_str).map(str::to_owned)
                }
                _ => None,
            };
            field("error").or_else(|| field("message")).or_else(|| field("error_description"))?
        }
        // Plain text, but not an HTML error page.
        Err(_) => {
            let text = String::from_utf8_lossy(&body).trim().to_owned();
            if text.is_empty() || text.starts_with('<') || text.len() > 500 {
                return None;
            }
            text
        }
    };
    super::error::wonde_message(&raw, Some(token.expose_secret()))
}

fn status_error(
    status: StatusCode,
    headers: &HeaderMap,
    endpoint: &str,
    message: Option<String>,
) -> WondeError {
    let endpoint = endpoint.to_owned();
    match status.as_u16() {
        401 => WondeError::Unauthorized { endpoint, message },
        403 => WondeError::Forbidden { endpoint, message },
        404 => WondeError::NotFound { endpoint, message },
        429 => WondeError::RateLimited {
            endpoint,
            retry_after: headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        },
        s @ 500..=599 => WondeError::Server { endpoint, status: s, message },
        s => WondeError::Status { endpoint, status: s, message },
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

    /// A base URL without Wonde's version path is refused at start-up.
    #[test]
    fn base_url_needs_the_version_path() {
        for good in ["https://api.wonde.com/v1.0", "http://127.0.0.1:9000/v1.0/", "https://x.test/api/v2"] {
            assert!(normalize_base(good).is_ok(), "{good}");
        }
        for bad in ["http://127.0.0.1:9000", "http://127.0.0.1:9000/", "https://api.wonde.com/schools"] {
            let err = normalize_base(bad).map(|u| u.to_string()).unwrap_or_else(|e| e.to_string());
            assert!(err.contains("version"), "{bad}: {err}");
        }
    }

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
        let env = decode::<ListEnvelope<WondeStudent>>(br#"{"data":[{"id":"A1"}],"meta":[]}"#, "s", 1)?;
        assert_eq!((env.incomplete(), env.next()), (None, None));
        assert_eq!(env.into_records().len(), 1);
        let env = decode::<ListEnvelope<WondeStudent>>(br#"{"data":[],"error":null}"#, "s", 1)?;
        assert_eq!(env.incomplete(), None);
        let env = decode::<ListEnvelope<WondeStudent>>(
            br#"{"data":[],"meta":{"pagination":{"next":"http://x/y?page=2","more":true}}}"#,
            "s",
            1,
        )?;
        assert_eq!(env.next(), Some("http://x/y?page=2"));
        Ok(())
    }

    #[test]
    fn envelopes_without_a_data_list_or_with_an_error_are_not_whole() -> Result<(), WondeError> {
        for (body, says) in [
            (r#"{"data":null}"#, "no `data` list"),
            (r#"{"meta":{}}"#, "no `data` list"),
            (r#"{"data":{"id":"A1"}}"#, "an object"),
            (r#"{"data":"none"}"#, "a string"),
            (r#"{"data":[],"error":"Server busy"}"#, "\"Server busy\""),
            (r#"{"error":{"message":"Timeout"}}"#, "\"Timeout\""),
            (r#"{"data":[{"id":"A1"}],"error":true}"#, "an error without words"),
        ] {
            let env = decode::<ListEnvelope<WondeStudent>>(body.as_bytes(), "s", 1)?;
            let why = env.incomplete().unwrap_or_default();
            assert!(why.contains(says), "{body}: {why}");
        }
        let single = decode::<SingleEnvelope<WondeSchool>>(br#"{"error":"gone"}"#, "s", 1)?;
        assert!(single.incomplete().is_some());
        let single = decode::<SingleEnvelope<WondeSchool>>(br#"{"data":{"id":"A1","name":"X"}}"#, "s", 1)?;
        assert_eq!(single.incomplete(), None);
        Ok(())
    }

    #[test]
    fn already_approved_refusals_are_an_answer() {
        let refusal = |status, message: &str| WondeError::Status {
            endpoint: "e".into(),
            status,
            message: Some(message.to_owned()),
        };
        use super::super::model::AccessOutcome;
        for message in ["Access to this school has already been approved", "Access already approved"] {
            let answer = already_approved(&refusal(400, message)).map(|a| a.outcome());
            assert_eq!(answer, Some(AccessOutcome::AlreadyApproved), "{message}");
        }
        assert!(already_approved(&refusal(400, "Bad contact")).is_none());
        assert!(already_approved(&refusal(500, "already approved")).is_none());
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

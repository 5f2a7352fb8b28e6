//! The HTTP side: one reqwest client, URLs per school and region, bearer
//! auth, retries with backoff, and decoding that names the bad field.
//! `WondeClient` and its school endpoints live here; the pieces it is made
//! of live in the submodules.

mod access;
pub(super) mod envelope;
pub(super) mod options;
mod refusal;
pub(super) mod retry;
mod url;

use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

use reqwest::header::{ACCEPT, AUTHORIZATION};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;

use self::envelope::{Answer, SingleEnvelope, decode};
use self::options::{
    CLASS_INCLUDES, CONTACT_INCLUDES, EMPLOYEE_INCLUDES, GROUP_INCLUDES, LEAVER_INCLUDES, ListQuery,
    STUDENT_INCLUDES, SchoolAccess, SchoolSearch, WondeConfig, format_updated_after,
};
use self::refusal::{error_body, error_chain, status_error, transport_error};
use self::url::normalize_base;
use super::model::{
    GroupType, WondeClass, WondeContact, WondeDeletion, WondeEmployee, WondeGroup, WondeSchool, WondeStudent,
};
use super::paging::Pager;
use super::{SecretToken, WondeError};

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
        let (env, _) =
            self.fetch::<SingleEnvelope<WondeSchool>>(Call::get(&url, &access.token, &endpoint, 1)).await?;
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

    /// One request with retries; returns the decoded body and its size.
    pub(crate) async fn fetch<T: Answer>(&self, call: Call<'_>) -> Result<(T, usize), WondeError> {
        let Call { endpoint, page, .. } = call;
        // Every line a request logs (its retries, the sync run around it)
        // carries the endpoint, labelled as the metrics label it: the
        // school's Wonde id is not a secret, but one label per endpoint
        // keeps traces grouped.
        let span = tracing::info_span!(
            "wonde.request",
            wonde.endpoint = %crate::telemetry::endpoint_label(endpoint),
            page
        );
        let policy = &self.inner.config.retry;
        let started = Instant::now();
        let mut retry = 0u32;
        async move {
            loop {
                let err = match self.attempt::<T>(call.clone()).await {
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
                crate::telemetry::wonde_retry(endpoint);
                tokio::time::sleep(delay).await;
                retry += 1;
            }
        }
        .instrument(span)
        .await
    }

    async fn attempt<T: Answer>(&self, call: Call<'_>) -> Result<(T, usize), WondeError> {
        let Call { method, url, token, body, endpoint, page } = call;
        let mut request = self
            .inner
            .http
            .request(method, url.clone())
            .header(AUTHORIZATION, token.bearer()?)
            .header(ACCEPT, "application/json");
        if let Some(b) = body {
            request = request.json(b);
        }
        let started = Instant::now();
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                crate::telemetry::wonde_attempt(endpoint, None, started.elapsed());
                return Err(transport_error(&e, endpoint));
            }
        };
        let status = response.status();
        let took = started.elapsed();
        crate::telemetry::wonde_attempt(endpoint, Some(status.as_u16()), took);
        tracing::debug!(
            status = status.as_u16(),
            took_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            "Wonde answered"
        );
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

/// One request to Wonde: what [`WondeClient::fetch`] sends, and how its
/// logs, metrics and errors name it (`endpoint`, labelled as its metric
/// is; `page`, 1 for a single record).
#[derive(Clone)]
pub(crate) struct Call<'a> {
    pub method: Method,
    pub url: &'a Url,
    pub token: &'a SecretToken,
    /// A JSON body (the access requests); none for a read.
    pub body: Option<&'a serde_json::Value>,
    pub endpoint: &'a str,
    pub page: u32,
}

impl<'a> Call<'a> {
    /// A `GET` of `url` with `token`.
    pub fn get(url: &'a Url, token: &'a SecretToken, endpoint: &'a str, page: u32) -> Self {
        Self { method: Method::GET, url, token, body: None, endpoint, page }
    }
}

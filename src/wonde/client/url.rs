//! Where a request goes: the base URL (an override, or the school's regional
//! domain) checked for Wonde's version path, path segments, and list queries.

use reqwest::Url;

use super::WondeClient;
use super::options::{DEFAULT_DOMAIN, ListQuery, format_updated_after};
use crate::wonde::WondeError;

impl WondeClient {
    pub(super) fn base(&self, region_domain: Option<&str>) -> Result<Url, WondeError> {
        if let Some(base) = &self.inner.base_override {
            return Ok(base.clone());
        }
        let domain = region_domain.map(str::trim).filter(|d| !d.is_empty()).unwrap_or(DEFAULT_DOMAIN);
        normalize_base(&format!("https://{domain}/v1.0"))
    }

    /// `base` + path segments (percent-encoded) + query.
    pub(super) fn url(
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

    pub(super) fn list_query(
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

    pub(super) fn push_per_page(&self, query: &mut Vec<(&'static str, String)>) {
        if self.inner.config.per_page > 0 {
            query.push(("per_page", self.inner.config.per_page.to_string()));
        }
    }
}

pub(super) fn normalize_base(raw: &str) -> Result<Url, WondeError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wonde::WondeConfig;

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

//! Fault injection: the next N matching requests fail in a chosen way, so the
//! client's retry and error paths can be driven over real HTTP.

use serde::{Deserialize, Serialize};

/// What to do to a request. Tagged by `fault` in the control API's JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 with `Retry-After` (seconds) when given, and Laravel-style
    /// `X-RateLimit-*` headers.
    RateLimited {
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
    /// A 5xx (or any status) with a small JSON error body.
    ServerError {
        #[serde(default = "default_status")]
        status: u16,
    },
    /// Wait this long, then answer normally.
    Latency { ms: u64 },
    /// Send headers and half the body, then cut the connection.
    Truncate,
    /// Close the connection without any response.
    Drop,
    /// 200 with `{"error": message, "error_description": ...}` and no
    /// `data`: an answer Wonde sends when it fails part-way through a list.
    OkErrorBody {
        #[serde(default = "default_error_message")]
        message: String,
    },
    /// Any status with `{"error": message}`, e.g. a 400 refusal in Wonde's
    /// own words.
    StatusWithBody { status: u16, message: String },
    /// The page answers normally but starts with the last record of the
    /// page before, as offset paging does when rows move between two page
    /// requests. No effect on a first page.
    RepeatPrevious,
    /// Any status with this exact body (JSON or not), for answers Wonde
    /// should never send but might: `{"data": null}`, `{"data": {}}`.
    RawBody {
        #[serde(default = "ok_status")]
        status: u16,
        body: String,
    },
}

fn ok_status() -> u16 {
    200
}

fn default_error_message() -> String {
    "Something went wrong while processing the request".to_owned()
}

fn default_status() -> u16 {
    500
}

fn default_endpoint() -> String {
    "*".to_owned()
}

fn default_count() -> u32 {
    1
}

/// A rule: which requests it matches, what happens, and how many more times.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FaultSpec {
    /// Only this school's requests; any school when absent.
    #[serde(default)]
    pub school: Option<String>,
    /// An endpoint name as in the request log (`students`, `school`,
    /// `schools/all`, `deletions`, ...), or `*` for every Wonde endpoint.
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// Only this page (1-based) of a list.
    #[serde(default)]
    pub page: Option<u32>,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many matching requests fail before the rule is spent.
    #[serde(default = "default_count")]
    pub count: u32,
}

impl FaultSpec {
    /// A rule for the next `count` requests to `endpoint` of any school.
    pub fn new(endpoint: &str, kind: FaultKind, count: u32) -> FaultSpec {
        FaultSpec { school: None, endpoint: endpoint.to_owned(), page: None, kind, count }
    }

    pub fn for_school(mut self, school: &str) -> FaultSpec {
        self.school = Some(school.to_owned());
        self
    }

    pub fn on_page(mut self, page: u32) -> FaultSpec {
        self.page = Some(page);
        self
    }
}

pub(crate) type FaultRule = FaultSpec;

/// Takes one use of the first rule that matches, if any.
pub(crate) fn take(
    rules: &mut Vec<FaultRule>,
    school: Option<&str>,
    endpoint: &str,
    page: u32,
) -> Option<FaultKind> {
    let pos = rules.iter().position(|r| {
        r.count > 0
            && (r.endpoint == "*" || r.endpoint == endpoint)
            && r.school.as_deref().is_none_or(|s| Some(s) == school)
            && r.page.is_none_or(|p| p == page)
    })?;
    let rule = &mut rules[pos];
    rule.count -= 1;
    let kind = rule.kind.clone();
    if rule.count == 0 {
        rules.remove(pos);
    }
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_is_spent_after_count() {
        let mut rules = vec![FaultSpec::new("students", FaultKind::Truncate, 2).on_page(2)];
        assert_eq!(take(&mut rules, Some("A1"), "students", 1), None);
        assert_eq!(take(&mut rules, Some("A1"), "students", 2), Some(FaultKind::Truncate));
        assert_eq!(take(&mut rules, None, "students", 2), Some(FaultKind::Truncate));
        assert_eq!(take(&mut rules, None, "students", 2), None);
        assert!(rules.is_empty());
    }

    #[test]
    fn spec_parses_from_control_json() -> Result<(), serde_json::Error> {
        let spec: FaultSpec = serde_json::from_str(
            r#"{"endpoint":"students","fault":"rate_limited","retry_after_secs":2,"count":3}"#,
        )?;
        assert_eq!(spec.kind, FaultKind::RateLimited { retry_after_secs: Some(2) });
        assert_eq!(spec.count, 3);
        let spec: FaultSpec = serde_json::from_str(
            r#"{"fault":"status_with_body","status":400,"message":"Access already approved"}"#,
        )?;
        assert_eq!(
            spec.kind,
            FaultKind::StatusWithBody { status: 400, message: "Access already approved".into() }
        );
        let spec: FaultSpec = serde_json::from_str(r#"{"endpoint":"students","fault":"ok_error_body"}"#)?;
        assert!(matches!(spec.kind, FaultKind::OkErrorBody { .. }));
        let spec: FaultSpec = serde_json::from_str(r#"{"fault":"drop"}"#)?;
        assert_eq!((spec.endpoint.as_str(), spec.count), ("*", 1));
        Ok(())
    }
}

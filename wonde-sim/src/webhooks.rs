//! Wonde's webhooks (wonde-api.md §6). Wonde signs nothing; integrators put
//! a shared secret in the registered URL or a header, so the simulator can do
//! either.
//!
//! Two ways to send one, over the same code: a [`WebhookRequest`] names its
//! URL and applies the event's access state without checks (a test forcing a
//! state); the approve / decline / revoke controls send to the registered
//! [`WebhookTarget`] after checking and applying the school's decision.
//!
//! Secrets and the `school_token` of an approval never appear in Debug
//! output.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::{AccessState, School};

/// Where the shared secret travels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretPlacement {
    /// `?secret=...` on the URL.
    #[default]
    Query,
    /// `X-Webhook-Secret: ...`.
    Header,
}

/// The notice to send. Tagged by `event` in the control API's JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum WebhookEvent {
    /// Access approved; carries the school's token.
    #[serde(rename = "schoolApproved")]
    SchoolApproved,
    #[serde(rename = "accessRevoked")]
    AccessRevoked {
        #[serde(default)]
        reason: Option<String>,
    },
    #[serde(rename = "accessDeclined")]
    AccessDeclined {
        #[serde(default)]
        reason: Option<String>,
    },
    #[serde(rename = "schoolMigration")]
    SchoolMigration {
        #[serde(default)]
        migrate_from: Option<String>,
        #[serde(default)]
        migrate_to: Option<String>,
    },
}

/// Where the simulator's webhooks go: the URL an app registers with Wonde,
/// and the shared secret it expects (by default as `?secret=`).
#[derive(Clone, Serialize, Deserialize)]
pub struct WebhookTarget {
    pub url: String,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub secret_in: SecretPlacement,
}

impl WebhookTarget {
    /// A target without a secret.
    pub fn new(url: impl Into<String>) -> Self {
        WebhookTarget { url: url.into(), secret: None, secret_in: SecretPlacement::Query }
    }

    /// The secret, sent as `?secret=`.
    #[must_use]
    pub fn with_secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// Where the secret travels.
    #[must_use]
    pub fn secret_in(mut self, placement: SecretPlacement) -> Self {
        self.secret_in = placement;
        self
    }

    /// An absolute http(s) URL, or why not.
    pub(crate) fn check(&self) -> Result<(), String> {
        match reqwest::Url::parse(&self.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
            Ok(_) => Err("the webhook URL must be http or https".into()),
            Err(e) => Err(format!("the webhook URL is not a valid URL: {e}")),
        }
    }
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_in", &self.secret_in)
            .finish()
    }
}

/// A webhook to send: to `url`, about `school_id`.
#[derive(Clone, Serialize, Deserialize)]
pub struct WebhookRequest {
    pub url: String,
    pub school_id: String,
    #[serde(flatten)]
    pub event: WebhookEvent,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub secret_in: SecretPlacement,
}

impl WebhookRequest {
    /// Where it goes.
    pub fn target(&self) -> WebhookTarget {
        WebhookTarget { url: self.url.clone(), secret: self.secret.clone(), secret_in: self.secret_in }
    }
}

impl std::fmt::Debug for WebhookRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRequest")
            .field("url", &self.url)
            .field("school_id", &self.school_id)
            .field("event", &self.event)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_in", &self.secret_in)
            .finish()
    }
}

/// What the receiver answered, and what was sent.
#[derive(Clone, Serialize, Deserialize)]
pub struct WebhookOutcome {
    /// The HTTP status the receiver answered.
    pub status: u16,
    /// The JSON body sent (an approval's carries `school_token`).
    pub payload: Value,
}

impl std::fmt::Debug for WebhookOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut payload = self.payload.clone();
        if let Some(token) = payload.get_mut("school_token") {
            *token = Value::String("<redacted>".into());
        }
        f.debug_struct("WebhookOutcome").field("status", &self.status).field("payload", &payload).finish()
    }
}

/// The state the event puts the school in, if it changes it.
pub(crate) fn new_state(event: &WebhookEvent) -> Option<AccessState> {
    match event {
        WebhookEvent::SchoolApproved => Some(AccessState::Approved),
        WebhookEvent::AccessRevoked { .. } => Some(AccessState::Revoked),
        WebhookEvent::AccessDeclined { .. } => Some(AccessState::Declined),
        WebhookEvent::SchoolMigration { .. } => None,
    }
}

pub(crate) fn payload(event: &WebhookEvent, school: &School) -> Value {
    let mut v = json!({
        "school_id": school.id,
        "school_name": school.name,
        "school_la_code": school.la_code,
        "school_urn": school.urn.to_string(),
        "school_establishment_number": school.establishment_number,
    });
    let extra = match event {
        WebhookEvent::SchoolApproved => json!({
            "payload_type": "schoolApproved",
            "school_token": school.token,
        }),
        WebhookEvent::AccessRevoked { reason } => json!({
            "payload_type": "accessRevoked",
            "revoke_reason": reason.clone().unwrap_or_else(|| "No longer needed".into()),
        }),
        WebhookEvent::AccessDeclined { reason } => json!({
            "payload_type": "accessDeclined",
            "decline_reason": reason.clone().unwrap_or_else(|| "Not interested".into()),
        }),
        WebhookEvent::SchoolMigration { migrate_from, migrate_to } => {
            let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
            json!({
                "payload_type": "schoolMigration",
                "migrate_from": migrate_from.clone().unwrap_or_else(|| school.mis.clone()),
                "migrate_to": migrate_to.clone().unwrap_or_else(|| "Arbor".into()),
                "scheduled_at": now,
                "completed_at": now,
            })
        }
    };
    if let (Some(m), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    v
}

/// Posts `payload` to the target, with its secret. The error text never
/// carries the URL (its query may hold the secret).
pub(crate) async fn send(
    http: &reqwest::Client,
    target: &WebhookTarget,
    payload: Value,
) -> Result<WebhookOutcome, String> {
    let mut url =
        reqwest::Url::parse(&target.url).map_err(|_| "the webhook URL is not a valid URL".to_owned())?;
    if let (Some(secret), SecretPlacement::Query) = (&target.secret, target.secret_in) {
        url.query_pairs_mut().append_pair("secret", secret);
    }
    let mut builder = http.post(url);
    if let (Some(secret), SecretPlacement::Header) = (&target.secret, target.secret_in) {
        builder = builder.header("X-Webhook-Secret", secret);
    }
    let resp = builder.json(&payload).send().await.map_err(|e| causes(&e.without_url()))?;
    Ok(WebhookOutcome { status: resp.status().as_u16(), payload })
}

/// An error and its causes, `: `-joined.
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

//! Wonde's webhooks (wonde-api.md §6), sent to a URL the test names. Wonde
//! signs nothing; integrators put a shared secret in the registered URL or a
//! header, so the simulator can do either.

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

/// A webhook to send: to `url`, about `school_id`.
#[derive(Clone, Debug, Serialize, Deserialize)]
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

/// What the receiver answered, and what was sent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebhookOutcome {
    pub status: u16,
    pub payload: Value,
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

pub(crate) async fn send(
    http: &reqwest::Client,
    request: &WebhookRequest,
    payload: Value,
) -> Result<WebhookOutcome, reqwest::Error> {
    let mut url = reqwest::Url::parse(&request.url).map_err(|_| ()).ok();
    let mut builder = match (&mut url, &request.secret, request.secret_in) {
        (Some(u), Some(secret), SecretPlacement::Query) => {
            u.query_pairs_mut().append_pair("secret", secret);
            http.post(u.clone())
        }
        _ => http.post(&request.url),
    };
    if let (Some(secret), SecretPlacement::Header) = (&request.secret, request.secret_in) {
        builder = builder.header("X-Webhook-Secret", secret);
    }
    let resp = builder.json(&payload).send().await?;
    Ok(WebhookOutcome { status: resp.status().as_u16(), payload })
}

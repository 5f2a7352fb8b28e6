//! The access workflow on the wire: request-access and revoke-access
//! answers, read loosely, and the request body with its contacts.

use serde::{Deserialize, Serialize};

/// Answer of request-access and revoke-access:
/// `{"success":true,"state":"pending","message":"Access request successfully received"}`.
///
/// Read as loosely as a three-field answer allows, as only a client
/// author's mock shows its shape (wonde-api.md §5): any field may be missing
/// or of another type (`"success": "1"`, `"state": "Pending"`), the fields
/// may come wrapped in `data`, and `[]`, `null` or a non-object read as an
/// empty answer. [`AccessResponse::outcome`] says what it means.
#[derive(Clone, Debug, Default)]
pub struct AccessResponse {
    pub success: Option<bool>,
    /// `pending`, `approved`, `revoked`...
    pub state: Option<String>,
    pub message: Option<String>,
}

/// What an access answer means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessOutcome {
    /// The request is with the school (request-access).
    Pending,
    /// Access exists already: request-access on an approved school. The
    /// caller may revoke and ask again.
    AlreadyApproved,
    /// Access is revoked (revoke-access).
    Revoked,
    Declined,
    /// Nothing recognisable in the answer.
    Unknown,
}

impl AccessResponse {
    /// `state` first; without one, the message; without either, `Unknown`
    /// (whatever `success` says, it does not tell which state).
    pub fn outcome(&self) -> AccessOutcome {
        let state = self.state.as_deref().map(|s| s.trim().to_ascii_lowercase());
        match state.as_deref() {
            Some("pending") => return AccessOutcome::Pending,
            Some("approved" | "audited") => return AccessOutcome::AlreadyApproved,
            Some("revoked") => return AccessOutcome::Revoked,
            Some("declined") => return AccessOutcome::Declined,
            _ => {}
        }
        let message = self.message.as_deref().unwrap_or_default().to_ascii_lowercase();
        if message.contains("already approved") || message.contains("already has access") {
            AccessOutcome::AlreadyApproved
        } else if message.contains("revoked") {
            AccessOutcome::Revoked
        } else if message.contains("declined") {
            AccessOutcome::Declined
        } else if message.contains("pending") || message.contains("request successfully received") {
            AccessOutcome::Pending
        } else {
            AccessOutcome::Unknown
        }
    }
}

impl<'de> Deserialize<'de> for AccessResponse {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde_json::Value;
        fn text(v: Option<&Value>) -> Option<String> {
            match v? {
                Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        }
        fn flag(v: Option<&Value>) -> Option<bool> {
            match v? {
                Value::Bool(b) => Some(*b),
                Value::Number(n) => n.as_i64().map(|n| n != 0),
                Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "y" => Some(true),
                    "false" | "0" | "no" | "n" => Some(false),
                    _ => None,
                },
                _ => None,
            }
        }
        let value = Value::deserialize(d)?;
        let Value::Object(top) = value else {
            return Ok(AccessResponse::default());
        };
        let own = ["success", "state", "message"].iter().any(|k| top.contains_key(*k));
        let fields = match top.get("data") {
            Some(Value::Object(inner)) if !own => inner,
            _ => &top,
        };
        Ok(AccessResponse {
            success: flag(fields.get("success")),
            state: text(fields.get("state")),
            message: text(fields.get("message")),
        })
    }
}

/// Who asks for access; Wonde passes it to the school ("can speed up approval").
#[derive(Clone, Debug, Default, Serialize)]
pub struct AccessContact {
    pub first_name: String,
    pub last_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    pub email_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct AccessRequest {
    pub contacts: Vec<AccessContact>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn access_answers_read_loosely() -> Result<(), serde_json::Error> {
        let read = |v: serde_json::Value| serde_json::from_value::<AccessResponse>(v);
        let pending = read(
            json!({"success": true, "state": "pending", "message": "Access request successfully received"}),
        )?;
        assert_eq!((pending.success, pending.outcome()), (Some(true), AccessOutcome::Pending));
        let approved = read(json!({"success": "0", "state": " Approved ", "message": ["odd"]}))?;
        assert_eq!((approved.success, approved.outcome()), (Some(false), AccessOutcome::AlreadyApproved));
        assert_eq!(approved.message, None);
        let by_message = read(json!({"success": false, "message": "Access already approved"}))?;
        assert_eq!(by_message.outcome(), AccessOutcome::AlreadyApproved);
        let wrapped = read(json!({"data": {"success": 1, "state": "revoked", "message": "Access revoked"}}))?;
        assert_eq!((wrapped.success, wrapped.outcome()), (Some(true), AccessOutcome::Revoked));
        assert_eq!(read(json!({"state": "declined"}))?.outcome(), AccessOutcome::Declined);
        assert_eq!(read(json!({"state": 7, "success": {}}))?.outcome(), AccessOutcome::Unknown);
        for empty in [json!([]), json!(null), json!("ok"), json!({})] {
            let r = read(empty)?;
            assert_eq!((r.success, r.outcome()), (None, AccessOutcome::Unknown));
        }
        Ok(())
    }
}

//! What a delivery carries: `{type, timestamp, data}`, where `data` holds
//! the fields of the GraphQL event (its cursor, school, person, reason...),
//! people and schools by their global ids only (no names or emails: the
//! integrator asks the API for those, under its token's scope).
//!
//! `webhook-id` is `evt_<event id>`: the same for every endpoint and every
//! retry of one event, so a receiver de-duplicates on it.

use entity::enums::{EventKind, PersonKind};
use entity::event;
use serde_json::{Value, json};

use crate::graphql::ids::{NodeType, encode};
use crate::graphql::pagination::encode_cursor;

/// The kinds an endpoint may ask for, by their stored (and GraphQL) name.
pub const DELIVERABLE: [EventKind; 6] = [
    EventKind::Deactivated,
    EventKind::Reactivated,
    EventKind::Erased,
    EventKind::Held,
    EventKind::ConnectionChanged,
    EventKind::WebhookEndpointDisabled,
];

/// The body's `type` for a kind, or `None` for kinds never delivered
/// (sync progress, and the log-only parent-group changes).
pub fn event_type(kind: EventKind) -> Option<&'static str> {
    Some(match kind {
        EventKind::Deactivated => "account.deactivated",
        EventKind::Reactivated => "account.reactivated",
        EventKind::Erased => "account.erased",
        EventKind::Held => "changes.held",
        EventKind::ConnectionChanged => "connection.changed",
        EventKind::WebhookEndpointDisabled => "webhook_endpoint.disabled",
        EventKind::SyncProgress | EventKind::GuardianJoinedGroup | EventKind::GuardianLeftGroup => {
            return None;
        }
    })
}

/// The `webhook-id` of an event.
pub fn webhook_id(event_id: i64) -> String {
    format!("evt_{event_id}")
}

/// The JSON body of an event, as sent (the signature covers these bytes).
pub fn body(event: &event::Model) -> String {
    let kind_type = event_type(event.kind).unwrap_or("unknown");
    let mut data = json!({
        "cursor": encode_cursor(event.id),
        "occurredAt": event.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "school": { "id": encode(NodeType::School, event.school_id).0 },
        "syncRun": event.sync_run_id.map(|id| json!({ "id": encode(NodeType::SyncRun, id).0 })),
    });
    if let (Some(kind), Some(id)) = (event.person_kind, event.person_id) {
        let (typename, node) = match kind {
            PersonKind::Student => ("Student", NodeType::Student),
            PersonKind::Staff => ("Staff", NodeType::Staff),
            PersonKind::Guardian => ("Guardian", NodeType::Guardian),
        };
        data["kind"] = Value::from(kind.as_str());
        data["person"] = json!({ "__typename": typename, "id": encode(node, id).0 });
        data["reason"] = event.reason.map(|r| Value::from(r.as_str())).unwrap_or(Value::Null);
        data["reactivated"] = Value::from(event.kind == EventKind::Reactivated);
        data["erased"] = Value::from(event.kind == EventKind::Erased);
    }
    if let Some(payload) = &event.payload {
        data["details"] = serde_json::from_str(payload).unwrap_or(Value::Null);
    }
    json!({
        "type": kind_type,
        "timestamp": event.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    })
    .to_string()
}

//! The ids of the operations running on one socket, so that a client that
//! starts a second operation under an id still in use is told so.
//!
//! `graphql-transport-ws` requires the server to close the socket with
//! 4409 (`Subscriber for <id> already exists`) in that case. async-graphql
//! 7 instead replaces the first operation with the second, silently: an
//! integrator that reused an id by mistake stopped hearing of one school's
//! leavers with no error (found by a helper trying the server as an
//! integrator would).
//!
//! An id is taken by the client's `subscribe` (`start` in the legacy
//! `graphql-ws`) and given back by the client's `complete` (`stop`) or the
//! server's `complete` or `error` for it, which [`OperationIds::server_says`]
//! sees as the protocol sends it, before it reads the client's next
//! message: a client that has read the `complete` may use the id again at
//! once, and a `complete` for an id the client already gave back cannot
//! free the id's next use.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

/// The ids in use on one socket, shared by its reader and its writer.
#[derive(Clone, Default)]
pub(super) struct OperationIds {
    inner: Arc<Mutex<Ids>>,
}

#[derive(Default)]
struct Ids {
    running: HashSet<String>,
    /// The id a client tried to use twice, once it has.
    reused: Option<String>,
}

/// The parts of a protocol message that concern ids.
#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

impl OperationIds {
    /// Notes a client message (a text or binary frame's bytes); `false`
    /// when it starts an operation under an id still running (the socket
    /// must then close with 4409).
    pub(super) fn client_says(&self, message: &[u8]) -> bool {
        let Ok(Envelope { kind, id: Some(id) }) = serde_json::from_slice::<Envelope>(message) else {
            return true;
        };
        let mut ids = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match kind.as_str() {
            "subscribe" | "start" => {
                if ids.running.contains(&id) {
                    ids.reused = Some(id);
                    return false;
                }
                ids.running.insert(id);
            }
            "complete" | "stop" => {
                ids.running.remove(&id);
            }
            _ => {}
        }
        true
    }

    /// Notes a server message about to be written: a `complete` or an
    /// `error` ends its operation.
    pub(super) fn server_says(&self, text: &str) {
        // The protocol's messages name their type first (serde's tag): a
        // `next` to every subscriber is not parsed.
        if !(text.starts_with(r#"{"type":"complete""#) || text.starts_with(r#"{"type":"error""#)) {
            return;
        }
        let Ok(Envelope { kind, id: Some(id) }) = serde_json::from_str::<Envelope>(text) else {
            return;
        };
        if kind == "complete" || kind == "error" {
            self.inner.lock().unwrap_or_else(PoisonError::into_inner).running.remove(&id);
        }
    }

    /// The close reason owed to a client that reused an id, if one did:
    /// the protocol's words, with the id cut to fit a close frame's 123
    /// bytes (UTF-8, cut between characters).
    pub(super) fn reused(&self) -> Option<String> {
        const WORDS: usize = "Subscriber for  already exists".len();
        let ids = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        ids.reused.as_ref().map(|id| {
            let mut cut = id.len().min(123 - WORDS);
            while !id.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("Subscriber for {} already exists", &id[..cut])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_free_again_once_either_side_completes_it() {
        let ids = OperationIds::default();
        assert!(ids.client_says(r#"{"id":"1","type":"subscribe","payload":{}}"#.as_bytes()));
        assert!(ids.client_says(r#"{"id":"2","type":"subscribe","payload":{}}"#.as_bytes()));
        ids.server_says(r#"{"type":"complete","id":"1"}"#);
        assert!(
            ids.client_says(r#"{"id":"1","type":"subscribe","payload":{}}"#.as_bytes()),
            "the server completed 1"
        );
        assert!(ids.client_says(r#"{"id":"2","type":"complete"}"#.as_bytes()));
        assert!(
            ids.client_says(r#"{"id":"2","type":"subscribe","payload":{}}"#.as_bytes()),
            "the client completed 2"
        );
        assert_eq!(ids.reused(), None);
        assert!(!ids.client_says(r#"{"type":"subscribe","id":"2","payload":{}}"#.as_bytes()));
        assert_eq!(ids.reused().as_deref(), Some("Subscriber for 2 already exists"));
    }

    #[test]
    fn a_long_id_fits_a_close_frame() {
        let ids = OperationIds::default();
        let id = "é".repeat(200);
        let subscribe = serde_json::json!({ "id": id, "type": "subscribe" }).to_string();
        assert!(ids.client_says(subscribe.as_bytes()));
        assert!(!ids.client_says(subscribe.as_bytes()));
        let reason = ids.reused().unwrap_or_default();
        assert!(reason.len() <= 123 && reason.ends_with(" already exists"), "{} bytes", reason.len());
    }

    #[test]
    fn what_is_not_an_operation_passes() {
        let ids = OperationIds::default();
        for text in
            ["not json", r#"{"type":"ping"}"#, r#"{"type":"subscribe"}"#, r#"{"type":"pong","id":"1"}"#]
        {
            assert!(ids.client_says(text.as_bytes()), "{text}");
        }
        assert!(ids.client_says(r#"{"id":"1","type":"subscribe"}"#.as_bytes()));
        ids.server_says(r#"{"type":"next","id":"1","payload":{}}"#);
        assert!(
            !ids.client_says(r#"{"id":"1","type":"subscribe"}"#.as_bytes()),
            "still running after a next"
        );
    }
}

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

/// Above this size a server message is a `next` with data, never a
/// `complete` or `error` that gives an id back: not parsed.
const SMALL: usize = 16 * 1024;

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
    /// Notes a client message; `false` when it starts an operation under an
    /// id still running (the socket must then close with 4409).
    pub(super) fn client_says(&self, text: &str) -> bool {
        let Ok(Envelope { kind, id: Some(id) }) = serde_json::from_str::<Envelope>(text) else {
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
        if text.len() > SMALL {
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
    /// bytes.
    pub(super) fn reused(&self) -> Option<String> {
        let ids = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        ids.reused.as_ref().map(|id| {
            let id: String = id.chars().take(64).collect();
            format!("Subscriber for {id} already exists")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_free_again_once_either_side_completes_it() {
        let ids = OperationIds::default();
        assert!(ids.client_says(r#"{"id":"1","type":"subscribe","payload":{}}"#));
        assert!(ids.client_says(r#"{"id":"2","type":"subscribe","payload":{}}"#));
        ids.server_says(r#"{"id":"1","type":"complete"}"#);
        assert!(ids.client_says(r#"{"id":"1","type":"subscribe","payload":{}}"#), "the server completed 1");
        assert!(ids.client_says(r#"{"id":"2","type":"complete"}"#));
        assert!(ids.client_says(r#"{"id":"2","type":"subscribe","payload":{}}"#), "the client completed 2");
        assert_eq!(ids.reused(), None);
        assert!(!ids.client_says(r#"{"type":"subscribe","id":"2","payload":{}}"#));
        assert_eq!(ids.reused().as_deref(), Some("Subscriber for 2 already exists"));
    }

    #[test]
    fn what_is_not_an_operation_passes() {
        let ids = OperationIds::default();
        for text in
            ["not json", r#"{"type":"ping"}"#, r#"{"type":"subscribe"}"#, r#"{"type":"pong","id":"1"}"#]
        {
            assert!(ids.client_says(text), "{text}");
        }
        assert!(ids.client_says(r#"{"id":"1","type":"subscribe"}"#));
        ids.server_says(r#"{"id":"1","type":"next","payload":{}}"#);
        assert!(!ids.client_says(r#"{"id":"1","type":"subscribe"}"#), "still running after a next");
    }
}

//! Opaque global IDs: base64url of `Type:number`.
//!
//! Clients must treat them as opaque; the type prefix lets `node(id:)`
//! dispatch and lets typed lookups refuse an ID of another type clearly.

use async_graphql::ID;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::AppError;

macro_rules! node_types {
    ($($variant:ident),+ $(,)?) => {
        /// Every type with a global ID (all but the webhook types implement
        /// `Node`; those are read through `webhookEndpoints`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum NodeType { $($variant),+ }

        impl NodeType {
            pub fn name(self) -> &'static str {
                match self { $(Self::$variant => stringify!($variant)),+ }
            }

            fn from_name(name: &str) -> Option<Self> {
                match name { $(stringify!($variant) => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

node_types!(
    Trust,
    School,
    Student,
    Staff,
    Guardian,
    Class,
    YearGroup,
    FormGroup,
    Family,
    SyncRun,
    WebhookEndpoint,
    WebhookDelivery
);

pub fn encode(kind: NodeType, id: i32) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{id}", kind.name())))
}

/// Any global ID, with its type.
pub fn decode(id: &str) -> Result<(NodeType, i32), AppError> {
    let bad = || AppError::bad_input(format!("`{}` is not a valid ID", truncate(id)));
    let bytes = URL_SAFE_NO_PAD.decode(id.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (kind, number) = text.split_once(':').ok_or_else(bad)?;
    let kind = NodeType::from_name(kind).ok_or_else(bad)?;
    let number = number.parse::<i32>().map_err(|_| bad())?;
    Ok((kind, number))
}

/// A global ID that must be of one type.
pub fn decode_as(id: &str, expected: NodeType) -> Result<i32, AppError> {
    let (kind, number) = decode(id)?;
    if kind != expected {
        return Err(AppError::bad_input(format!(
            "expected a {} ID, got a {} ID",
            expected.name(),
            kind.name()
        )));
    }
    Ok(number)
}

/// Echoing a whole multi-kilobyte argument back helps nobody.
fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_type_checks() -> Result<(), AppError> {
        let id = encode(NodeType::Student, 42);
        assert_eq!(decode(&id)?, (NodeType::Student, 42));
        assert_eq!(decode_as(&id, NodeType::Student)?, 42);
        assert!(matches!(decode_as(&id, NodeType::School), Err(AppError::BadInput(_))));
        for bad in ["", "!!!", "U3R1ZGVudA", "Tm9wZTox", "U3R1ZGVudDp4"] {
            assert!(matches!(decode(bad), Err(AppError::BadInput(_))), "{bad}");
        }
        Ok(())
    }
}

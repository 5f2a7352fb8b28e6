//! Schools that Onroll creates itself: a school fed by CSV rather than
//! Wonde (`createSchool`, `onroll school create`). Wonde schools arrive
//! through `connectWonde` instead.

use entity::school;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::error::AppError;

/// Longest school name we accept; GIAS's longest is about 120 characters.
const MAX_NAME: usize = 200;

/// Creates a school of `trust_id` with no Wonde connection. A URN already
/// used by a school of the trust is refused (`BAD_USER_INPUT`), so a school
/// is not created twice.
pub async fn create(
    db: &impl ConnectionTrait,
    trust_id: i32,
    fields: NewSchool,
) -> Result<school::Model, AppError> {
    if let Some(urn) = &fields.urn {
        let taken = school::Entity::find()
            .filter(school::Column::TrustId.eq(trust_id))
            .filter(school::Column::Urn.eq(urn.as_str()))
            .one(db)
            .await?;
        if let Some(taken) = taken {
            return Err(AppError::bad_input(format!(
                "the trust already has a school with URN {urn} ({})",
                taken.name
            )));
        }
    }
    let now = chrono::Utc::now();
    let created = school::ActiveModel {
        trust_id: Set(trust_id),
        wonde_id: Set(None),
        name: Set(fields.name),
        urn: Set(fields.urn),
        postcode: Set(fields.postcode),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    // Trust-wide tokens cached before it see the new school at once.
    crate::auth::cache::forget_trust_everywhere(db, trust_id).await;
    Ok(created)
}

/// A new school's fields, checked and normalised.
#[derive(Debug, PartialEq, Eq)]
pub struct NewSchool {
    pub name: String,
    pub urn: Option<String>,
    pub postcode: Option<String>,
}

impl NewSchool {
    /// Collapses the name's spaces; refuses an empty or overlong name, a
    /// URN that is not 6 to 8 digits, and a malformed UK postcode
    /// (`BAD_USER_INPUT`).
    pub fn validate(name: &str, urn: Option<&str>, postcode: Option<&str>) -> Result<Self, AppError> {
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() {
            return Err(AppError::bad_input("name is required"));
        }
        if name.chars().count() > MAX_NAME {
            return Err(AppError::bad_input(format!("name is longer than {MAX_NAME} characters")));
        }
        let urn = blank_to_none(urn);
        // URNs are six digits (GIAS); older and Welsh ones seven.
        if let Some(urn) = &urn
            && (!(6..=8).contains(&urn.len()) || !urn.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(AppError::bad_input("urn must be 6 to 8 digits"));
        }
        let postcode = blank_to_none(postcode).map(|p| normalise_postcode(&p)).transpose()?;
        Ok(Self { name, urn, postcode })
    }
}

fn blank_to_none(text: Option<&str>) -> Option<String> {
    text.map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned)
}

/// "cb21 6ab" → "CB21 6AB": the outward code, a space, the inward code.
fn normalise_postcode(text: &str) -> Result<String, AppError> {
    let squashed: String = text.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
    let valid = (5..=7).contains(&squashed.len())
        && squashed.chars().all(|c| c.is_ascii_alphanumeric())
        && squashed.starts_with(|c: char| c.is_ascii_alphabetic())
        && squashed[squashed.len() - 3..].starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        return Err(AppError::bad_input(format!("`{}` is not a UK postcode", text.trim())));
    }
    let (outward, inward) = squashed.split_at(squashed.len() - 3);
    Ok(format!("{outward} {inward}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_urns_and_postcodes_are_normalised_or_refused() {
        let ok = NewSchool::validate("  Oak   Academy ", Some(" 123456 "), Some("cb21 6ab"));
        assert_eq!(
            ok.ok(),
            Some(NewSchool {
                name: "Oak Academy".into(),
                urn: Some("123456".into()),
                postcode: Some("CB21 6AB".into())
            })
        );
        assert_eq!(NewSchool::validate("Oak", Some(""), Some(" ")).ok().map(|s| s.urn), Some(None));
        for (name, urn, postcode) in [
            ("  ", None, None),
            ("Oak", Some("12a456"), None),
            ("Oak", Some("123"), None),
            ("Oak", None, Some("not a postcode")),
            ("Oak", None, Some("CB21")),
        ] {
            assert!(NewSchool::validate(name, urn, postcode).is_err(), "{name:?} {urn:?} {postcode:?}");
        }
        assert!(NewSchool::validate(&"x".repeat(MAX_NAME + 1), None, None).is_err());
    }
}

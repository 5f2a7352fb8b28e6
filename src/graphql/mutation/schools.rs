//! `createSchool`: a school fed by CSV rather than Wonde.

use async_graphql::{Context, Object};
use entity::school;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::{require_trust_admin, school as visible_school};
use crate::error::{AppError, ResultExt};
use crate::graphql::RequestContext;
use crate::graphql::ids::{NodeType, decode_as};
use crate::graphql::inputs::CreateSchoolInput;
use crate::graphql::types::School;

#[derive(Default)]
pub struct SchoolMutation;

/// Longest school name we accept; GIAS's longest is about 120 characters.
const MAX_NAME: usize = 200;

#[Object]
impl SchoolMutation {
    /// A school fed by CSV rather than Wonde (trust admins only). It has no
    /// Wonde connection; `importCsv` fills it. A URN already used by a
    /// school of the trust is refused, so a school is not created twice.
    async fn create_school(
        &self,
        ctx: &Context<'_>,
        input: CreateSchoolInput,
    ) -> async_graphql::Result<School> {
        let rc = RequestContext::of(ctx)?;
        let trust_id = decode_as(&input.trust_id, NodeType::Trust).gql()?;
        require_trust_admin(&rc.viewer, trust_id, "create schools").gql()?;
        let fields = NewSchool::validate(&input).gql()?;
        if let Some(urn) = &fields.urn {
            let taken = school::Entity::find()
                .filter(school::Column::TrustId.eq(trust_id))
                .filter(school::Column::Urn.eq(urn.as_str()))
                .one(&rc.db)
                .await
                .gql()?;
            if let Some(taken) = taken {
                return Err(AppError::bad_input(format!(
                    "the trust already has a school with URN {urn} ({})",
                    taken.name
                )))
                .gql();
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
        .insert(&rc.db)
        .await
        .gql()?;
        crate::graphql::audit::note_school(ctx, created.id);
        visible_school(rc, created.id).await.gql()
    }
}

/// `CreateSchoolInput`, checked and normalised.
#[derive(Debug, PartialEq, Eq)]
struct NewSchool {
    name: String,
    urn: Option<String>,
    postcode: Option<String>,
}

impl NewSchool {
    fn validate(input: &CreateSchoolInput) -> Result<Self, AppError> {
        let name = input.name.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() {
            return Err(AppError::bad_input("name is required"));
        }
        if name.chars().count() > MAX_NAME {
            return Err(AppError::bad_input(format!("name is longer than {MAX_NAME} characters")));
        }
        let urn = blank_to_none(input.urn.as_deref());
        // URNs are six digits (GIAS); older and Welsh ones seven.
        if let Some(urn) = &urn
            && (!(6..=8).contains(&urn.len()) || !urn.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(AppError::bad_input("urn must be 6 to 8 digits"));
        }
        let postcode =
            blank_to_none(input.postcode.as_deref()).map(|p| normalise_postcode(&p)).transpose()?;
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
    use async_graphql::ID;

    fn input(name: &str, urn: Option<&str>, postcode: Option<&str>) -> CreateSchoolInput {
        CreateSchoolInput {
            trust_id: ID::from("t"),
            name: name.to_owned(),
            urn: urn.map(str::to_owned),
            postcode: postcode.map(str::to_owned),
        }
    }

    #[test]
    fn names_urns_and_postcodes_are_normalised_or_refused() {
        let ok = NewSchool::validate(&input("  Oak   Academy ", Some(" 123456 "), Some("cb21 6ab")));
        assert_eq!(
            ok.ok(),
            Some(NewSchool {
                name: "Oak Academy".into(),
                urn: Some("123456".into()),
                postcode: Some("CB21 6AB".into())
            })
        );
        assert_eq!(NewSchool::validate(&input("Oak", Some(""), Some(" "))).ok().map(|s| s.urn), Some(None));
        for (name, urn, postcode) in [
            ("  ", None, None),
            ("Oak", Some("12a456"), None),
            ("Oak", Some("123"), None),
            ("Oak", None, Some("not a postcode")),
            ("Oak", None, Some("CB21")),
        ] {
            assert!(
                NewSchool::validate(&input(name, urn, postcode)).is_err(),
                "{name:?} {urn:?} {postcode:?}"
            );
        }
        assert!(NewSchool::validate(&input(&"x".repeat(MAX_NAME + 1), None, None)).is_err());
    }
}

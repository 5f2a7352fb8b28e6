//! `onroll export-person ID`: a subject access export from the command
//! line, for an operator answering a school's DPO without an API token.

use entity::enums::PersonKind;
use entity::{guardian, school, staff, student};
use sea_orm::{DatabaseConnection, DbErr, EntityTrait};

use crate::graphql::ids::{NodeType, decode};
use crate::retention::subject;

/// The person a typed ID names: a Student, Staff or Guardian global ID.
pub(crate) fn person(typed: &str) -> anyhow::Result<(PersonKind, i32)> {
    match decode(typed.trim()) {
        Ok((NodeType::Student, id)) => Ok((PersonKind::Student, id)),
        Ok((NodeType::Staff, id)) => Ok((PersonKind::Staff, id)),
        Ok((NodeType::Guardian, id)) => Ok((PersonKind::Guardian, id)),
        _ => anyhow::bail!("`{typed}` is not the ID of a Student, Staff or Guardian as the API shows it"),
    }
}

/// The school of the account `id` of `kind`; `None` when there is none.
pub(crate) async fn school_of(
    db: &DatabaseConnection,
    kind: PersonKind,
    id: i32,
) -> Result<Option<i32>, DbErr> {
    Ok(match kind {
        PersonKind::Student => student::Entity::find_by_id(id).one(db).await?.map(|r| r.school_id),
        PersonKind::Staff => staff::Entity::find_by_id(id).one(db).await?.map(|r| r.school_id),
        PersonKind::Guardian => guardian::Entity::find_by_id(id).one(db).await?.map(|r| r.school_id),
    })
}

/// The export of the person `typed` names, across their trust, as pretty JSON.
pub(crate) async fn export(db: &DatabaseConnection, typed: &str) -> anyhow::Result<String> {
    let (kind, id) = person(typed)?;
    let school_id = school_of(db, kind, id).await?;
    let school = match school_id {
        Some(school_id) => school::Entity::find_by_id(school_id).one(db).await?,
        None => None,
    };
    let Some(school) = school else { anyhow::bail!("no person `{typed}`") };
    let matched = subject::records_of(db, school.trust_id, kind, id, |_| true).await?;
    let document = subject::export(db, &matched).await?;
    Ok(serde_json::to_string_pretty(&document)?)
}

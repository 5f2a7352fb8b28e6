//! A guardian (a Wonde contact) at one school; `email_key` is the trimmed, case-folded email that joins families across schools.
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "guardian")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub school_id: i32,
    pub wonde_id: String,
    pub upi: Option<String>,
    pub mis_id: Option<String>,
    pub forename: String,
    pub surname: String,
    pub email: Option<String>,
    pub title: Option<String>,
    pub email_key: Option<String>,
    pub status: AccountStatus,
    pub deactivated_at: Option<DateTimeUtc>,
    pub deactivation_reason: Option<DeactivationReason>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When the retention purge (or an erasure) erased the personal data;
    /// null while it is held.
    pub purged_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

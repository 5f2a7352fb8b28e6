//! The append-only event log; `id` is the monotonically increasing cursor.
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub trust_id: i32,
    pub school_id: i32,
    pub kind: EventKind,
    pub person_kind: Option<PersonKind>,
    pub person_id: Option<i32>,
    pub reason: Option<DeactivationReason>,
    pub sync_run_id: Option<i32>,
    pub payload: Option<String>,
    pub occurred_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

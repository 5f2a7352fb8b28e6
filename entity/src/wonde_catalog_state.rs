//! The Wonde catalog's refresh state (a single row, id 1).
use crate::enums::CatalogOutcome;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wonde_catalog_state")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub last_full_at: Option<DateTimeUtc>,
    pub last_incremental_at: Option<DateTimeUtc>,
    pub refreshing_since: Option<DateTimeUtc>,
    pub last_attempt_at: Option<DateTimeUtc>,
    pub last_outcome: CatalogOutcome,
    pub last_message: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! A data-quality finding at one school: what its office should fix, with
//! the records involved (`records`, JSON) and a sentence (`detail`).
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "data_quality_finding")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub school_id: i32,
    pub kind: DataQualityKind,
    pub sync_run_id: Option<i32>,
    pub detected_at: DateTimeUtc,
    pub records: String,
    pub detail: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! A Wonde webhook delivery acted on, by digest, so that a repeated
//! delivery (equal to its school's last one) is recognised and changes
//! nothing.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_delivery")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    /// SHA-256 (hex) of the delivery; never the body (it may hold a token).
    pub digest: String,
    pub payload_type: String,
    pub wonde_school_id: Option<String>,
    /// `APPLIED`, `IGNORED` or `REFUSED`.
    pub outcome: String,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

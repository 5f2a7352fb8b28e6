//! A student on (or once on) a school's roll, keyed by (school, Wonde id).
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "student")]
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
    pub upn: Option<String>,
    pub leaving_date: Option<String>,
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

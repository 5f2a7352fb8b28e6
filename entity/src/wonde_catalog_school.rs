//! A school of Wonde's directory, mirrored locally for search before access exists.
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wonde_catalog_school")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub wonde_id: String,
    pub name: String,
    pub name_key: String,
    pub urn: Option<String>,
    pub la_code: Option<String>,
    pub establishment_number: Option<String>,
    pub postcode: Option<String>,
    pub postcode_key: Option<String>,
    pub phase: Option<String>,
    pub mis: Option<String>,
    pub address: Option<String>,
    pub access_status: Option<ConnectionStatus>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

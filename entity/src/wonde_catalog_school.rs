//! A school of Wonde's directory, mirrored locally for search before access exists.
use crate::enums::*;
crate::entity_macros::plain_entity!("wonde_catalog_school", timestamps {
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
});

//! Declarative macros for the entities, so the shape every table shares is
//! written once. Every entity is a plain row (relations are explicit queries
//! in the service layer), so each macro declares the `Model` with a primary
//! key `id`, an empty `Relation` and the default `ActiveModelBehavior`; the
//! fields are listed in the entity's order.

/// A plain-row entity: `id` (primary key), then the given fields.
///
/// - `plain_entity!("table" { pub field: Type, ... });`: an `i32` `id` the
///   database generates.
/// - `plain_entity!("table", id: i64 { ... });`: the same with another type.
/// - `plain_entity!("table", singleton { ... });`: an `i32` `id` never
///   generated (one-row tables whose migration inserts row 1).
/// - `plain_entity!("table", timestamps { ... });`: the given fields, then
///   `created_at` and `updated_at`.
///
/// Every field, the last included, ends with a comma.
macro_rules! plain_entity {
    (@model $table:tt, [$($key:tt)*], $id:ty { $($fields:tt)* }) => {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = $table)]
        pub struct Model {
            #[sea_orm($($key)*)]
            pub id: $id,
            $($fields)*
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    };
    ($table:tt, timestamps { $($fields:tt)* }) => {
        $crate::entity_macros::plain_entity!($table {
            $($fields)*
            pub created_at: DateTimeUtc,
            pub updated_at: DateTimeUtc,
        });
    };
    ($table:tt, singleton { $($fields:tt)* }) => {
        $crate::entity_macros::plain_entity!(@model $table, [primary_key, auto_increment = false], i32 {
            $($fields)*
        });
    };
    ($table:tt, id: $id:ty { $($fields:tt)* }) => {
        $crate::entity_macros::plain_entity!(@model $table, [primary_key], $id { $($fields)* });
    };
    ($table:tt { $($fields:tt)* }) => {
        $crate::entity_macros::plain_entity!(@model $table, [primary_key], i32 { $($fields)* });
    };
}
pub(crate) use plain_entity;

/// A membership (junction) row: a member in a group of a school. Ended
/// memberships stay, inactive (`active` false, `ended_at` set), for history.
///
/// `membership_entity!("class_student", class_id, student_id);` declares
/// `id, school_id, class_id, student_id, active, ended_at, created_at, updated_at`.
macro_rules! membership_entity {
    ($table:tt, $group_id:ident, $member_id:ident) => {
        $crate::entity_macros::plain_entity!($table, timestamps {
            pub school_id: i32,
            pub $group_id: i32,
            pub $member_id: i32,
            pub active: bool,
            pub ended_at: Option<DateTimeUtc>,
        });
    };
}
pub(crate) use membership_entity;

/// A group of a school mirrored from Wonde (class, form group, year group).
///
/// `group_entity!("class" { pub subject: Option<String>, });` declares
/// `id, school_id, wonde_id, name, code`, the given fields, then
/// `active, created_at, updated_at`.
macro_rules! group_entity {
    ($table:tt { $($extra:tt)* }) => {
        $crate::entity_macros::plain_entity!($table, timestamps {
            pub school_id: i32,
            pub wonde_id: String,
            pub name: String,
            pub code: Option<String>,
            $($extra)*
            pub active: bool,
        });
    };
}
pub(crate) use group_entity;

/// A person of a school mirrored from Wonde (student, staff, guardian).
///
/// `person_entity!("student" { pub upn: Option<String>, ... });` declares
/// `id, school_id, wonde_id, upi, mis_id, forename, surname, email`, the
/// given fields, then `status, deactivated_at, deactivation_reason,
/// created_at, updated_at, purged_at`.
macro_rules! person_entity {
    ($table:tt { $($extra:tt)* }) => {
        use $crate::enums::{AccountStatus, DeactivationReason};

        $crate::entity_macros::plain_entity!($table {
            pub school_id: i32,
            pub wonde_id: String,
            pub upi: Option<String>,
            pub mis_id: Option<String>,
            pub forename: String,
            pub surname: String,
            pub email: Option<String>,
            $($extra)*
            pub status: AccountStatus,
            pub deactivated_at: Option<DateTimeUtc>,
            pub deactivation_reason: Option<DeactivationReason>,
            pub created_at: DateTimeUtc,
            pub updated_at: DateTimeUtc,
            /// When the retention purge (or an erasure) erased the personal data;
            /// null while it is held.
            pub purged_at: Option<DateTimeUtc>,
        });
    };
}
pub(crate) use person_entity;

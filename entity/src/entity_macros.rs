//! Declarative macros for the entities whose tables share one shape, so the
//! shape is written once. Every entity here is a plain row (relations are
//! explicit queries in the service layer), so each macro declares the
//! `Model` with an `i32` primary key `id`, an empty `Relation` and the
//! default `ActiveModelBehavior`; the fields are listed in column order.

/// A plain-row entity: `id` (primary key), then the given fields.
///
/// `plain_entity!("table" { pub field: Type, ... });`
macro_rules! plain_entity {
    ($table:tt { $($fields:tt)* }) => {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = $table)]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            $($fields)*
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
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
        $crate::entity_macros::plain_entity!($table {
            pub school_id: i32,
            pub $group_id: i32,
            pub $member_id: i32,
            pub active: bool,
            pub ended_at: Option<DateTimeUtc>,
            pub created_at: DateTimeUtc,
            pub updated_at: DateTimeUtc,
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
        $crate::entity_macros::plain_entity!($table {
            pub school_id: i32,
            pub wonde_id: String,
            pub name: String,
            pub code: Option<String>,
            $($extra)*
            pub active: bool,
            pub created_at: DateTimeUtc,
            pub updated_at: DateTimeUtc,
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

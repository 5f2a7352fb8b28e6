//! The account tables (students, staff, guardians) as the steps see them:
//! the columns the rules act on, and the school's rows read once, indexed
//! by source id and UPI.

use chrono::{DateTime, Utc};
use entity::enums::{AccountStatus, DeactivationReason, HeldTarget, PersonKind};
use entity::{guardian, staff, student};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait,
    IdenStatic, Iterable, QueryFilter,
};
use std::collections::{HashMap, HashSet};

use super::{Known, KnownAccounts, Work};
use crate::families::email_key;
use crate::sync::ledger::RunCounts;
use crate::sync::source::{DeletedKind, MisGuardian, MisStaff, MisStudent};

/// The columns the leaver rules act on, which the account tables share, so
/// that one [`load`] reads any of them and one [`super::settle::settle`]
/// applies a batch's targets to students or staff.
pub(super) trait AccountTable: EntityTrait {
    const KIND: PersonKind;
    /// How a held change names an account of this table.
    const HELD: HeldTarget;
    /// How a batch's deletions name one.
    const DELETED: DeletedKind;
    fn school_column() -> Self::Column;
    fn purged_column() -> Self::Column;
    fn upi(row: &Self::Model) -> Option<&str>;
    /// Id, source id, status, reason and when access was lost.
    fn state(
        row: &Self::Model,
    ) -> (i32, &str, AccountStatus, Option<DeactivationReason>, Option<DateTime<Utc>>);
    fn set_state(
        model: &mut Self::ActiveModel,
        status: AccountStatus,
        reason: Option<DeactivationReason>,
        deactivated_at: Option<DateTime<Utc>>,
    );
    fn touch(model: &mut Self::ActiveModel, now: DateTime<Utc>);
    fn counts(counts: &mut RunCounts) -> &mut crate::sync::ledger::Counts;
    /// The MIS record of an account of this table.
    type Record;
    /// Copies a record's fields to its account (only those that differ
    /// change).
    fn copy_record(model: &mut Self::ActiveModel, mis: &Self::Record);
    /// A new active account of the school, as the record has it.
    fn new_row(school: i32, mis: &Self::Record, now: DateTime<Utc>) -> Self::ActiveModel;
}

macro_rules! account_table {
    ($table:ident, $kind:ident, $counts:ident, $record:ty, $own_fields:expr) => {
        impl AccountTable for $table::Entity {
            const KIND: PersonKind = PersonKind::$kind;
            const HELD: HeldTarget = HeldTarget::$kind;
            const DELETED: DeletedKind = DeletedKind::$kind;
            fn school_column() -> Self::Column {
                $table::Column::SchoolId
            }
            fn purged_column() -> Self::Column {
                $table::Column::PurgedAt
            }
            fn upi(row: &$table::Model) -> Option<&str> {
                row.upi.as_deref()
            }
            fn state(
                row: &$table::Model,
            ) -> (i32, &str, AccountStatus, Option<DeactivationReason>, Option<DateTime<Utc>>) {
                (row.id, &row.wonde_id, row.status, row.deactivation_reason, row.deactivated_at)
            }
            fn set_state(
                model: &mut $table::ActiveModel,
                status: AccountStatus,
                reason: Option<DeactivationReason>,
                deactivated_at: Option<DateTime<Utc>>,
            ) {
                model.status = Set(status);
                model.deactivation_reason = Set(reason);
                model.deactivated_at = Set(deactivated_at);
            }
            fn touch(model: &mut $table::ActiveModel, now: DateTime<Utc>) {
                model.updated_at = Set(now);
            }
            fn counts(counts: &mut RunCounts) -> &mut crate::sync::ledger::Counts {
                &mut counts.$counts
            }
            type Record = $record;
            fn copy_record(model: &mut $table::ActiveModel, mis: &$record) {
                model.wonde_id.set_if_not_equals(mis.source_id.clone());
                model.upi.set_if_not_equals(mis.upi.clone());
                model.mis_id.set_if_not_equals(mis.mis_id.clone());
                model.forename.set_if_not_equals(mis.forename.clone());
                model.surname.set_if_not_equals(mis.surname.clone());
                model.email.set_if_not_equals(mis.email.clone());
                $own_fields(model, mis);
            }
            fn new_row(school: i32, mis: &$record, now: DateTime<Utc>) -> $table::ActiveModel {
                let mut model = $table::ActiveModel {
                    school_id: Set(school),
                    status: Set(AccountStatus::Active),
                    deactivated_at: Set(None),
                    deactivation_reason: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                };
                Self::copy_record(&mut model, mis);
                model
            }
        }
    };
}

// A future leaving date is kept, so that the day it comes the pupil
// leaves without waiting for a change to the record.
account_table!(
    student,
    Student,
    students,
    MisStudent,
    |model: &mut student::ActiveModel, mis: &MisStudent| {
        model.upn.set_if_not_equals(mis.upn.clone());
        model.leaving_date.set_if_not_equals(mis.leaving_date.map(|d| d.to_string()));
    }
);
account_table!(staff, Staff, staff, MisStaff, |model: &mut staff::ActiveModel, mis: &MisStaff| {
    model.title.set_if_not_equals(mis.title.clone());
    model.employment_end.set_if_not_equals(mis.employment_end.map(|d| d.to_string()));
});
account_table!(
    guardian,
    Guardian,
    guardians,
    MisGuardian,
    |model: &mut guardian::ActiveModel, mis: &MisGuardian| {
        model.title.set_if_not_equals(mis.title.clone());
        model.email_key.set_if_not_equals(mis.email.as_deref().and_then(email_key));
    }
);

/// Copies `mis` to `model`, an account as read from its table, but for
/// the columns in `unstated`, which keep what is stored: a CSV file
/// without a `upn` column says nothing of UPNs and must not blank them.
/// Only fields that differ change, as with [`AccountTable::copy_record`].
pub(super) fn copy_stated<E: AccountTable>(
    model: &mut E::ActiveModel,
    mis: &E::Record,
    unstated: &HashSet<&'static str>,
) {
    if unstated.is_empty() {
        E::copy_record(model, mis);
        return;
    }
    let mut copied = model.clone();
    E::copy_record(&mut copied, mis);
    for column in E::Column::iter().filter(|column| !unstated.contains(column.as_str())) {
        if let ActiveValue::Set(value) = copied.get(column) {
            model.set_if_not_equals(column, value);
        }
    }
}

/// The school's accounts of one table that a rule may match, with their
/// places by source id and by UPI.
pub(super) struct Accounts<M> {
    pub rows: Vec<M>,
    pub by_id: HashMap<String, usize>,
    pub by_upi: HashMap<String, usize>,
}

/// Reads the school's accounts of `E`, and notes for the guard how many
/// were active before the run.
pub(super) async fn load<E: AccountTable>(
    txn: &DatabaseTransaction,
    work: &mut Work,
) -> Result<Accounts<E::Model>, DbErr> {
    // A purged row is nobody any more: no rule may match it (retention.rs).
    let rows = E::find()
        .filter(E::school_column().eq(work.scope.school_id))
        .filter(E::purged_column().is_null())
        .all(txn)
        .await?;
    let active = rows.iter().filter(|r| E::state(r).2 == AccountStatus::Active);
    work.active_before.insert(E::KIND, crate::sync::ledger::count(active));
    let by_id = rows.iter().enumerate().map(|(i, r)| (E::state(r).1.to_owned(), i)).collect();
    let by_upi = rows.iter().enumerate().filter_map(|(i, r)| E::upi(r).map(|u| (u.to_owned(), i))).collect();
    Ok(Accounts { rows, by_id, by_upi })
}

/// Source id to account, for the accounts `key` reads from `rows`.
pub(super) fn known<T>(rows: Vec<T>, key: impl Fn(&T) -> (String, i32, AccountStatus)) -> KnownAccounts {
    rows.iter()
        .map(|row| {
            let (source_id, id, status) = key(row);
            (source_id, Known { id, active: status == AccountStatus::Active })
        })
        .collect()
}

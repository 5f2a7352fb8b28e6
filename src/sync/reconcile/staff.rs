//! Staff accounts: upserted from the batch, re-identified by work email
//! (or names) after a MIS change, and deactivated when employment ends or
//! the guard accepts weak evidence that they are gone.

use entity::enums::{DeactivationReason, PersonKind};
use entity::staff;
use sea_orm::{DatabaseTransaction, DbErr};
use std::collections::HashMap;

use super::KnownAccounts;
use super::Work;
use super::accounts::{self, AccountTable, Accounts};
use super::guard::date_has_come;
use super::matching::{Matched, identifying_email, may_be_rekeyed, reidentify};
use super::settle::{finish, keep_match};
use crate::families::names_agree;
use crate::sync::identity;
use crate::sync::ledger::{Evidence, Target};
use crate::sync::source::{Batch, DeletedKind, MisStaff};

fn staff_target(mis: &MisStaff) -> Target {
    if mis.inactive_in_mis {
        Target::Deactivated(DeactivationReason::SuspendedOrArchived)
    } else if !mis.current {
        Target::Deactivated(DeactivationReason::LeftSchool)
    } else {
        Target::Active
    }
}

/// Upserts the school's staff from the batch and settles their status;
/// answers the school's staff as they now stand.
pub(super) async fn sync_staff(
    txn: &DatabaseTransaction,
    work: &mut Work,
    batch: &Batch,
) -> Result<KnownAccounts, DbErr> {
    let school = work.scope.school_id;
    let accounts = accounts::load::<staff::Entity>(txn, work).await?;
    let Accounts { rows, by_id, by_upi } = &accounts;
    let mut targets: HashMap<usize, (Target, Evidence)> = HashMap::new();
    let mut updates: HashMap<usize, staff::ActiveModel> = HashMap::new();
    let mut inserts = Vec::new();
    let today = work.scope.today;
    if batch.types.staff {
        // Staff re-keyed by a MIS change: UPI first (the usual lookup),
        // then the work email; a record without an email, by the same
        // names (a name two people share is ambiguous, and never merged).
        let by_email = identity::index(rows, |r| identifying_email(r.email.as_deref()));
        let by_names = identity::index(rows, |r| identity::names_key(&r.forename, &r.surname));
        let gone = |i: usize| may_be_rekeyed(batch, DeletedKind::Staff, &rows[i].wonde_id, rows[i].status);
        let matched = reidentify(&batch.staff, rows, by_id, by_upi, gone, |mis| {
            // A role address (head@) passes from one holder to the next:
            // an email carries an account over only under the same names.
            let named = |&i: &usize| {
                names_agree([(&*rows[i].forename, &*rows[i].surname), (&mis.forename, &mis.surname)])
            };
            let candidates = match identifying_email(mis.email.as_deref()) {
                Some(email) => {
                    identity::candidates(&by_email, Some(email)).into_iter().filter(named).collect()
                }
                None => identity::candidates(&by_names, identity::names_key(&mis.forename, &mis.surname)),
            };
            (mis.source_id.as_str(), mis.upi.as_deref(), candidates)
        });
        for (mis, matched) in batch.staff.iter().zip(matched) {
            let target = staff_target(mis);
            match matched {
                Matched::Row(i, how) => {
                    let mut model: staff::ActiveModel = rows[i].clone().into();
                    accounts::copy_stated::<staff::Entity>(&mut model, mis, &batch.unstated.staff);
                    let plan = (&mut targets, &mut updates);
                    keep_match::<staff::Entity>(work, plan, (i, rows[i].id), (model, how), target);
                }
                Matched::Ambiguous(candidates) => {
                    let rule =
                        if identifying_email(mis.email.as_deref()).is_some() { "email" } else { "names" };
                    work.ambiguous(PersonKind::Staff, &mis.source_id, rule, &candidates, rows, |r| r.id);
                    if target == Target::Active {
                        inserts.push(staff::Entity::new_row(school, mis, work.scope.now));
                    }
                }
                Matched::New if target == Target::Active => {
                    inserts.push(staff::Entity::new_row(school, mis, work.scope.now))
                }
                Matched::New => {}
            }
        }
    }
    // Employment that has ended takes effect in every run, as leaving
    // dates do: the day after the last day, with no record change needed.
    let dates = rows.iter().map(|r| (r.status, r.employment_end.as_deref()));
    date_has_come(&mut targets, dates, |d| d < today);
    let speaks = (batch, batch.types.staff);
    finish::<staff::Entity>(txn, work, speaks, &accounts, targets, (updates, inserts)).await
}

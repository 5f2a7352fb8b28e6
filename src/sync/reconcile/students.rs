//! Student accounts: upserted from the batch, re-identified by UPN after a
//! MIS change, and deactivated when they leave (a leaving date that has
//! come, the leavers list, or the guard's judgement of weak evidence).

use chrono::NaiveDate;
use entity::enums::{DeactivationReason, PersonKind};
use entity::student;
use sea_orm::{DatabaseTransaction, DbErr};
use std::collections::HashMap;

use super::KnownAccounts;
use super::Work;
use super::accounts::{self, AccountTable, Accounts};
use super::guard::date_has_come;
use super::matching::{Matched, find, may_be_rekeyed, reidentify};
use super::settle::{finish, keep_match};
use crate::families::names_agree;
use crate::sync::identity;
use crate::sync::ledger::{Evidence, Target};
use crate::sync::source::{Batch, DeletedKind, MisStudent};

fn student_target(mis: &MisStudent, today: NaiveDate) -> Target {
    if mis.inactive_in_mis {
        Target::Deactivated(DeactivationReason::SuspendedOrArchived)
    } else if mis.leaving_date.is_some_and(|d| d <= today) {
        Target::Deactivated(DeactivationReason::LeftSchool)
    } else {
        Target::Active
    }
}

/// Upserts the school's students from the batch and settles their status;
/// answers the school's students as they now stand.
pub(super) async fn sync_students(
    txn: &DatabaseTransaction,
    work: &mut Work,
    batch: &Batch,
) -> Result<KnownAccounts, DbErr> {
    let school = work.scope.school_id;
    let accounts = accounts::load::<student::Entity>(txn, work).await?;
    let Accounts { rows, by_id, by_upi } = &accounts;
    // The target of every row the batch speaks of, with what it rests on;
    // rows it is silent on keep their status (or, in a complete batch, are
    // gone). Explicit evidence is entered first: it wins over silence.
    let mut targets: HashMap<usize, (Target, Evidence)> = HashMap::new();
    let mut updates: HashMap<usize, student::ActiveModel> = HashMap::new();
    let mut inserts = Vec::new();
    let today = work.scope.today;
    if batch.types.students {
        // A record with an unknown id and UPI may be a known pupil re-keyed
        // by a MIS change: the same UPN at this school under the same names
        // is the same child. A UPN alone is not enough: one copied onto a
        // new pupil's record took over a leaver's account, renamed it and
        // gave the new pupil the leaver's links and history (a trial).
        let by_upn = identity::index(rows, |r| identity::upn_key(r.upn.as_deref()));
        let gone = |i: usize| may_be_rekeyed(batch, DeletedKind::Student, &rows[i].wonde_id, rows[i].status);
        let matched = reidentify(&batch.students, rows, by_id, by_upi, gone, |mis| {
            let candidates = identity::candidates(&by_upn, identity::upn_key(mis.upn.as_deref()));
            let named = |&i: &usize| {
                names_agree([(&*rows[i].forename, &*rows[i].surname), (&mis.forename, &mis.surname)])
            };
            (mis.source_id.as_str(), mis.upi.as_deref(), candidates.into_iter().filter(named).collect())
        });
        for (mis, matched) in batch.students.iter().zip(matched) {
            let target = student_target(mis, today);
            match matched {
                Matched::Row(i, how) => {
                    let mut model: student::ActiveModel = rows[i].clone().into();
                    accounts::copy_stated::<student::Entity>(&mut model, mis, &batch.unstated.students);
                    let plan = (&mut targets, &mut updates);
                    keep_match::<student::Entity>(work, plan, (i, rows[i].id), (model, how), target);
                }
                Matched::Ambiguous(candidates) => {
                    work.ambiguous(PersonKind::Student, &mis.source_id, "upn", &candidates, rows, |r| r.id);
                    if target == Target::Active {
                        inserts.push(student::Entity::new_row(school, mis, work.scope.now));
                    }
                }
                // A leaver or suspended record we never knew is not imported.
                Matched::New if target == Target::Active => {
                    inserts.push(student::Entity::new_row(school, mis, work.scope.now))
                }
                Matched::New => {}
            }
        }
        // The leavers list keeps old records: one that is on roll again
        // (restored, or re-enrolled under a new id) answers for itself.
        for mis in &batch.leavers {
            if let Some((i, _)) = find(&mis.source_id, mis.upi.as_deref(), by_id, by_upi, rows) {
                targets
                    .entry(i)
                    .or_insert((Target::Deactivated(DeactivationReason::LeftSchool), Evidence::Explicit));
            }
        }
    }
    // A stored leaving date that has come takes effect in every run, with
    // no change to the record needed (the daily sweep is such a run).
    let dates = rows.iter().map(|r| (r.status, r.leaving_date.as_deref()));
    date_has_come(&mut targets, dates, |d| d <= today);
    let speaks = (batch, batch.types.students);
    finish::<student::Entity>(txn, work, speaks, &accounts, targets, (updates, inserts)).await
}

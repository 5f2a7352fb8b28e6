//! Guardian records: upserted from the batch (new ones only when linked to
//! a pupil on roll), re-identified by email or by names and a shared child,
//! and those the MIS removed noted for [`super::children_rule`].

use entity::enums::{AccountStatus, DeactivationReason, HeldTarget, PersonKind};
use entity::{guardian, guardian_link};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    QuerySelect,
};
use std::collections::{HashMap, HashSet};

use super::KnownAccounts;
use super::Work;
use super::accounts::{self, AccountTable, Accounts, known};
use super::guard::{judge_accounts, kept_unread, weak_targets};
use super::matching::{How, Matched, count_match, identifying_email, may_be_rekeyed, reidentify};
use crate::families::names_agree;
use crate::sync::batch_write;
use crate::sync::holds::{Candidate, Holds};
use crate::sync::identity;
use crate::sync::ledger::{Evidence, Target};
use crate::sync::source::{Batch, DeletedKind, MisGuardian};

/// Guardians whose status is settled by the children rule, and those the
/// MIS itself removed or suspended.
pub(in crate::sync) struct GuardianRecords {
    pub known: KnownAccounts,
    /// Guardian ids the MIS says are gone or suspended, with why.
    pub removed: HashMap<i32, DeactivationReason>,
    /// The school's guardian rows after this step, purged rows aside: the
    /// children rule settles them, and no step between writes them.
    pub rows: Vec<guardian::Model>,
}

/// Upserts guardian records. New guardians are imported only when the batch
/// links them to a student on roll: a contact with no child here is no
/// account here. Status is settled later, once links are known.
pub(super) async fn guardian_records(
    txn: &DatabaseTransaction,
    work: &mut Work,
    batch: &Batch,
    students: &KnownAccounts,
) -> Result<GuardianRecords, DbErr> {
    let school = work.scope.school_id;
    let accounts = accounts::load::<guardian::Entity>(txn, work).await?;
    let Accounts { rows, by_id, by_upi } = &accounts;
    let mut removed: HashMap<i32, DeactivationReason> = HashMap::new();
    let mut inserts = Vec::new();
    let mut updates = Vec::new();
    if batch.types.guardians {
        let linked: HashSet<&str> = batch
            .links
            .iter()
            .filter(|l| students.get(&l.student).is_some_and(|s| s.active))
            .map(|l| l.guardian.as_str())
            .collect();
        let mut seen: HashSet<usize> = HashSet::new();
        // The school's links, current or ended, read once for both rules.
        let links: Vec<(i32, i32, bool)> = guardian_link::Entity::find()
            .select_only()
            .columns([
                guardian_link::Column::GuardianId,
                guardian_link::Column::StudentId,
                guardian_link::Column::Active,
            ])
            .filter(guardian_link::Column::SchoolId.eq(school))
            .into_tuple()
            .all(txn)
            .await?;
        let second = SecondRule::new(rows, &links, batch, students);
        let gone = |i: usize| may_be_rekeyed(batch, DeletedKind::Guardian, &rows[i].wonde_id, rows[i].status);
        let matched = reidentify(&batch.guardians, rows, by_id, by_upi, gone, |mis| {
            (mis.source_id.as_str(), mis.upi.as_deref(), second.candidates(mis, rows))
        });
        for (mis, matched) in batch.guardians.iter().zip(matched) {
            let new = !mis.inactive_in_mis && linked.contains(mis.source_id.as_str());
            match matched {
                Matched::Row(i, how) => {
                    let row = &rows[i];
                    seen.insert(i);
                    if mis.inactive_in_mis {
                        removed.insert(row.id, DeactivationReason::SuspendedOrArchived);
                    } else {
                        work.holds.spoke((HeldTarget::Guardian, row.id));
                    }
                    let mut model: guardian::ActiveModel = row.clone().into();
                    accounts::copy_stated::<guardian::Entity>(&mut model, mis, &batch.unstated.guardians);
                    let changed = model.is_changed();
                    count_match(&mut work.counts.guardians, how == How::Reidentified, changed);
                    if changed {
                        model.updated_at = Set(work.scope.now);
                        updates.push(model);
                    }
                }
                Matched::Ambiguous(candidates) => {
                    let rule = if identifying_email(mis.email.as_deref()).is_some() {
                        "email"
                    } else {
                        "names_and_child"
                    };
                    work.ambiguous(PersonKind::Guardian, &mis.source_id, rule, &candidates, rows, |r| r.id);
                    if new {
                        inserts.push(guardian::Entity::new_row(school, mis, work.scope.now));
                    }
                }
                Matched::New if new => inserts.push(guardian::Entity::new_row(school, mis, work.scope.now)),
                Matched::New => {}
            }
        }
        let mut weak: HashMap<usize, (Target, Evidence)> = HashMap::new();
        weak_targets(&mut weak, batch, DeletedKind::Guardian, rows.len(), by_id);
        weak.retain(|i, _| !seen.contains(i));
        // The cascade follows its cause: a guardian whose children all go
        // in this run goes with them, and one whose only children left are
        // held waits with them (held too, for its own decision, but never
        // counted); neither is judged on its own. Only a guardian who would
        // keep a child here is.
        let fates = children_after(&links, students, &work.holds);
        // Only a guardian who keeps a child here stays for want of a whole
        // listing: the others go with their children whatever it says.
        kept_unread(work, batch, (PersonKind::Guardian, DeletedKind::Guardian), || {
            (0..rows.len())
                .filter(|i| !seen.contains(i) && rows[*i].status == AccountStatus::Active)
                .filter(|i| matches!(fates.get(&rows[*i].id), Some(Fate::Staying)))
                .map(|i| rows[i].id)
                .collect()
        });
        let holds = &mut work.holds;
        weak.retain(|i, (target, evidence)| match fates.get(&rows[*i].id) {
            Some(Fate::Staying) => true,
            Some(Fate::Held) => {
                if let (Target::Deactivated(why), Evidence::Weak(evidence)) = (*target, *evidence)
                    && rows[*i].status == AccountStatus::Active
                {
                    let key = (HeldTarget::Guardian, rows[*i].id);
                    holds.hold_following(Candidate { key, evidence, reason: Some(why), pair: None });
                }
                false
            }
            None => {
                if let Target::Deactivated(why) = target {
                    removed.insert(rows[*i].id, *why);
                }
                false
            }
        });
        let active = work.active_before.get(&PersonKind::Guardian).copied().unwrap_or(0);
        let leaving =
            rows.iter().filter(|r| r.status == AccountStatus::Active && removed.contains_key(&r.id));
        let leaving = i32::try_from(leaving.count()).unwrap_or(i32::MAX);
        let weak = judge_accounts(&mut work.holds, HeldTarget::Guardian, (active, leaving), weak, |i| {
            (rows[i].id, rows[i].status)
        });
        for (i, target) in weak {
            if let Target::Deactivated(why) = target {
                removed.insert(rows[i].id, why);
            }
        }
    }
    // Updates first, as before: a new record may take a source id that a
    // re-identified account gave up.
    let mut written = batch_write::update_changed(txn, updates).await?;
    work.counts.guardians.created += i32::try_from(inserts.len()).unwrap_or(i32::MAX);
    written += batch_write::insert_all(txn, inserts).await?;
    work.written.note::<guardian::Entity>(written);
    // Purged rows aside: a purged row's source id is replaced
    // (retention.rs), so no record names it, and no rule settles it again.
    let rows = if written == 0 {
        accounts.rows
    } else {
        guardian::Entity::find()
            .filter(guardian::Column::SchoolId.eq(school))
            .filter(guardian::Column::PurgedAt.is_null())
            .all(txn)
            .await?
    };
    let known = known(rows.iter().collect(), |r| (r.wonde_id.clone(), r.id, r.status));
    Ok(GuardianRecords { known, removed, rows })
}

/// What becomes of a guardian's children at the school in this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// At least one stays active, and not only because it is held.
    Staying,
    /// The only ones left are held for a decision.
    Held,
}

/// Guardians with a current link to a child who ends the run active (held
/// or not); a guardian not in the map has no such child.
fn children_after(links: &[(i32, i32, bool)], students: &KnownAccounts, holds: &Holds) -> HashMap<i32, Fate> {
    let active: HashSet<i32> = students.values().filter(|k| k.active).map(|k| k.id).collect();
    let current = links.iter().filter(|(_, student, current)| *current && active.contains(student));
    let mut fates: HashMap<i32, Fate> = HashMap::new();
    for &(guardian, student, _) in current {
        let fate = if holds.is_kept((HeldTarget::Student, student)) { Fate::Held } else { Fate::Staying };
        let entry = fates.entry(guardian).or_insert(fate);
        if fate == Fate::Staying {
            *entry = Fate::Staying;
        }
    }
    fates
}

/// The second rule for guardians whose keys a MIS change made unknown: the
/// same email (trimmed, case-folded) is the same person; a record without
/// one is the guardian of the same names already linked to one of the
/// children the record is linked to.
struct SecondRule {
    by_email: HashMap<String, Vec<usize>>,
    by_names: HashMap<String, Vec<usize>>,
    /// Guardian row index to the student account ids it is linked to.
    children_of_row: HashMap<usize, HashSet<i32>>,
    /// Record source id to the student account ids the batch links it to.
    children_of_record: HashMap<String, HashSet<i32>>,
}

impl SecondRule {
    /// From the school's guardians, its links (guardian, student, current
    /// or not), and the batch.
    fn new(
        rows: &[guardian::Model],
        links: &[(i32, i32, bool)],
        batch: &Batch,
        students: &KnownAccounts,
    ) -> Self {
        let row_of: HashMap<i32, usize> = rows.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
        let mut children_of_row: HashMap<usize, HashSet<i32>> = HashMap::new();
        for &(guardian_id, student_id, _) in links {
            if let Some(&i) = row_of.get(&guardian_id) {
                children_of_row.entry(i).or_default().insert(student_id);
            }
        }
        let mut children_of_record: HashMap<String, HashSet<i32>> = HashMap::new();
        for link in &batch.links {
            if let Some(student) = students.get(&link.student) {
                children_of_record.entry(link.guardian.clone()).or_default().insert(student.id);
            }
        }
        Self {
            by_email: identity::index(rows, |r| identifying_email(r.email.as_deref())),
            by_names: identity::index(rows, |r| identity::names_key(&r.forename, &r.surname)),
            children_of_row,
            children_of_record,
        }
    }

    fn candidates(&self, mis: &MisGuardian, rows: &[guardian::Model]) -> Vec<usize> {
        if let Some(email) = identifying_email(mis.email.as_deref()) {
            // One email is one person only when the names agree too (the
            // family rule): a shared office address is not an identity.
            return identity::candidates(&self.by_email, Some(email))
                .into_iter()
                .filter(|&i| {
                    let row = &rows[i];
                    names_agree([
                        (row.forename.as_str(), row.surname.as_str()),
                        (&mis.forename, &mis.surname),
                    ])
                })
                .collect();
        }
        let Some(children) = self.children_of_record.get(&mis.source_id) else { return Vec::new() };
        identity::candidates(&self.by_names, identity::names_key(&mis.forename, &mis.surname))
            .into_iter()
            .filter(|i| self.children_of_row.get(i).is_some_and(|linked| !linked.is_disjoint(children)))
            .collect()
    }
}

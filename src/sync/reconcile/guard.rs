//! The mass-deactivation guard over one kind of account: which targets
//! rest on weak evidence (a deletion, or silence in a complete batch), and
//! which of those the run applies or holds for a decision.

use chrono::NaiveDate;
use entity::enums::{AccountStatus, DeactivationReason, HeldEvidence, HeldTarget, PersonKind};
use std::collections::HashMap;

use super::{KeptUnread, Work};
use crate::sync::holds::{Candidate, Holds};
use crate::sync::ledger::{Evidence, Target};
use crate::sync::source::{Batch, DeletedKind, listing};

/// Records that a present record speaks for its account (it came back, if
/// it was held), unless it says the account is leaving.
pub(super) fn spoke(work: &mut Work, target: HeldTarget, id: i32, to: Target) {
    if to == Target::Active {
        work.holds.spoke((target, id));
    }
}

/// Adds the weak evidence of a batch: its deletions of `kind`, then, in a
/// complete batch whose listing of that kind was read whole, the absence
/// of every row it did not speak of. Only that listing counts: one staff
/// record that could not be read must not keep every pupil who left by
/// vanishing inside (trial).
pub(super) fn weak_targets(
    targets: &mut HashMap<usize, (Target, Evidence)>,
    batch: &Batch,
    kind: DeletedKind,
    rows: usize,
    by_id: &HashMap<String, usize>,
) {
    let gone = Target::Deactivated(DeactivationReason::RemovedFromMis);
    for deletion in batch.deletions.iter().filter(|d| d.kind == kind) {
        if let Some(&i) = by_id.get(&deletion.source_id) {
            targets.entry(i).or_insert((gone, Evidence::Weak(HeldEvidence::DeletedInMis)));
        }
    }
    if batch.absence_is_evidence_in(listings_of(kind)) {
        for i in 0..rows {
            targets.entry(i).or_insert((gone, Evidence::Weak(HeldEvidence::AbsentFromFullFetch)));
        }
    }
}

/// The listings whose absences speak for `kind`.
fn listings_of(kind: DeletedKind) -> &'static [&'static str] {
    match kind {
        DeletedKind::Student => &[listing::STUDENTS],
        DeletedKind::Staff => &[listing::STAFF],
        DeletedKind::Guardian => &[listing::GUARDIANS],
        DeletedKind::Class => &[listing::CLASSES],
        DeletedKind::Group => &[listing::YEAR_GROUPS, listing::FORM_GROUPS],
    }
}

/// Notes the active accounts of `kind` (listed as `listing`) that a
/// complete batch was silent on (`silent`: their ids, asked for only when
/// it matters) but that stay because a record of their listing could not
/// be read: they may have left, and only the MIS's fix (or a person) can
/// tell. They become part of the school's UNREADABLE_RECORD finding
/// (`crate::quality`), so that a record nobody fixes does not keep
/// leavers inside unseen.
pub(super) fn kept_unread(
    work: &mut Work,
    batch: &Batch,
    (kind, listing): (PersonKind, DeletedKind),
    silent: impl FnOnce() -> Vec<i32>,
) {
    let listings = listings_of(listing);
    if !batch.complete || !batch.unreadable.iter().any(|u| listings.contains(&u.endpoint.as_str())) {
        return;
    }
    let ids = silent();
    if !ids.is_empty() {
        work.kept_unread.push(KeptUnread { kind, ids });
    }
}

/// The guard over one kind of account: the deactivations of active
/// accounts that rest on weak evidence are judged together; those held,
/// and those an earlier run held, keep their status. Answers the targets
/// to apply.
///
/// They are weighed against the accounts the run could leave in place:
/// the kind's `active` accounts before the run, less those leaving on
/// explicit evidence in it (`leaving` more, counted by the caller) and
/// those already held. So an answer that would empty what an earlier
/// doubted answer left is doubted too, and a day of many explicit leavers
/// does not make silence about the rest look small.
pub(super) fn judge_accounts(
    holds: &mut Holds,
    target: HeldTarget,
    (active, leaving): (i32, i32),
    targets: HashMap<usize, (Target, Evidence)>,
    state: impl Fn(usize) -> (i32, AccountStatus),
) -> HashMap<usize, Target> {
    let mut candidates: Vec<(usize, Candidate)> = Vec::new();
    let mut apply: HashMap<usize, Target> = HashMap::new();
    let mut explicit = leaving;
    for (i, (to, evidence)) in targets {
        let (id, status) = state(i);
        if matches!(
            (to, evidence, status),
            (Target::Deactivated(_), Evidence::Explicit, AccountStatus::Active)
        ) {
            explicit += 1;
        }
        match (to, evidence) {
            (Target::Deactivated(reason), Evidence::Weak(evidence)) if status == AccountStatus::Active => {
                if !holds.is_kept((target, id)) {
                    candidates.push((
                        i,
                        Candidate { key: (target, id), evidence, reason: Some(reason), pair: None },
                    ));
                }
            }
            _ => {
                apply.insert(i, to);
            }
        }
    }
    candidates.sort_by_key(|(_, c)| c.key.1);
    let list: Vec<Candidate> = candidates.iter().map(|(_, c)| *c).collect();
    let judged = i32::try_from(list.len()).unwrap_or(i32::MAX);
    let held_before = i32::try_from(holds.kept_ids(target).len()).unwrap_or(i32::MAX);
    let weighed_against = active.saturating_sub(explicit).saturating_sub(held_before);
    if !holds.decide(weighed_against, judged, &list) {
        apply.extend(
            candidates.into_iter().map(|(i, c)| {
                (i, Target::Deactivated(c.reason.unwrap_or(DeactivationReason::RemovedFromMis)))
            }),
        );
    }
    apply
}

/// Accounts whose stored date has `come` (a leaving date, the end of
/// employment) leave in every run, with no change to the record needed:
/// explicit evidence, unless the batch already answered for the account.
pub(super) fn date_has_come<'a>(
    targets: &mut HashMap<usize, (Target, Evidence)>,
    rows: impl Iterator<Item = (AccountStatus, Option<&'a str>)>,
    come: impl Fn(NaiveDate) -> bool,
) {
    for (i, (status, date)) in rows.enumerate() {
        let left = date.and_then(|d| d.parse::<NaiveDate>().ok()).is_some_and(&come);
        if left && status == AccountStatus::Active {
            targets
                .entry(i)
                .or_insert((Target::Deactivated(DeactivationReason::LeftSchool), Evidence::Explicit));
        }
    }
}

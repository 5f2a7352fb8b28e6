//! Finding a batch record's account: by its source id, else by UPI
//! (re-enrolment), else, for a record whose keys a MIS change made
//! unknown, by a second rule of [`identity`].

use entity::enums::AccountStatus;
use std::collections::{HashMap, HashSet};

use crate::families::{email_key, is_placeholder_email};
use crate::sync::identity;
use crate::sync::source::{Batch, DeletedKind};

/// Finds an existing record by Wonde id, else by UPI (re-enrolment).
pub(super) fn find<'a, T>(
    source_id: &str,
    upi: Option<&str>,
    by_id: &HashMap<String, usize>,
    by_upi: &HashMap<String, usize>,
    rows: &'a [T],
) -> Option<(usize, &'a T)> {
    by_id
        .get(source_id)
        .or_else(|| upi.filter(|u| !u.is_empty()).and_then(|u| by_upi.get(u)))
        .map(|&i| (i, &rows[i]))
}

/// How a batch record found its account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum How {
    /// By its own source id or UPI.
    Keys,
    /// By the second rule of [`identity`]: a MIS re-keyed it.
    Reidentified,
}

pub(super) enum Matched {
    Row(usize, How),
    Ambiguous(Vec<usize>),
    New,
}

/// Matches each record to a row: by id, else by UPI (re-enrolment), else,
/// for records whose keys are all unknown, by the candidates `second`
/// gives (see [`identity::resolve`]) among the rows that may have been
/// re-keyed (`gone`): a row only the batch's silence could vouch for.
pub(super) fn reidentify<M, T>(
    records: &[M],
    rows: &[T],
    by_id: &HashMap<String, usize>,
    by_upi: &HashMap<String, usize>,
    gone: impl Fn(usize) -> bool,
    second: impl Fn(&M) -> (&str, Option<&str>, Vec<usize>),
) -> Vec<Matched> {
    let first: Vec<Option<usize>> = records
        .iter()
        .map(|mis| {
            let (id, upi, _) = second(mis);
            find(id, upi, by_id, by_upi, rows).map(|(i, _)| i)
        })
        .collect();
    let claimed: HashSet<usize> = first.iter().flatten().copied().collect();
    let wanted: Vec<Vec<usize>> = records
        .iter()
        .zip(&first)
        .map(|(mis, found)| match found {
            Some(_) => Vec::new(),
            None => second(mis).2.into_iter().filter(|&row| gone(row)).collect(),
        })
        .collect();
    first
        .into_iter()
        .zip(identity::resolve(&wanted, &claimed))
        .map(|(found, second)| match (found, second) {
            (Some(i), _) => Matched::Row(i, How::Keys),
            (None, identity::Resolution::Same(i)) => Matched::Row(i, How::Reidentified),
            (None, identity::Resolution::Ambiguous(rows)) => Matched::Ambiguous(rows),
            (None, identity::Resolution::New) => Matched::New,
        })
        .collect()
}

/// Rows a second rule may match: in a complete batch, any (its silence
/// says whom the MIS no longer has under the old keys); in a partial one,
/// only rows the batch deletes or that are already deactivated, since an
/// account the batch is merely silent on is still someone, and a new
/// record sharing their email or name is someone else.
pub(super) fn may_be_rekeyed(
    batch: &Batch,
    kind: DeletedKind,
    source_id: &str,
    status: AccountStatus,
) -> bool {
    batch.complete
        || status == AccountStatus::Deactivated
        || batch.deletions.iter().any(|d| d.kind == kind && d.source_id == source_id)
}

/// Counts a matched record: re-identified (its keys carried over, whatever
/// else changed with them) or updated (any field changed, keys included).
pub(super) fn count_match(counts: &mut crate::sync::ledger::Counts, rekeyed: bool, changed: bool) {
    if rekeyed {
        counts.reidentified += 1;
    } else if changed {
        counts.updated += 1;
    }
}

/// An email that can say who someone is: not blank, not a placeholder
/// (`noemail@...`), as its family key.
pub(super) fn identifying_email(email: Option<&str>) -> Option<String> {
    email.filter(|e| !is_placeholder_email(e)).and_then(email_key)
}

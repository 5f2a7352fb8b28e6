//! The guard over ending rows of a membership or guardian link table:
//! which ends rest only on the batch no longer listing a row, and whether
//! they leave too many members with no row of the table at all. Shared by
//! `memberships.rs` and `guardian_links.rs`.

use entity::enums::{HeldEvidence, HeldTarget};
use std::collections::{HashMap, HashSet};

use super::holds::{Candidate, Holds};
use super::ledger::count;

/// One existing membership (or link) row, as [`Ends::judge`] plans it.
pub(super) struct RowPlan {
    /// Its place among the table's rows.
    pub(super) index: usize,
    pub(super) key: (HeldTarget, i32),
    /// Group and member (for a link: student and guardian).
    pub(super) pair: (i32, i32),
    /// Current before the run.
    pub(super) active: bool,
    /// The batch's own view: listed (or not spoken of, and current).
    pub(super) listed: bool,
    /// The batch itself lists it (not merely silent about it): a held
    /// membership or link so listed came back.
    pub(super) spoken: bool,
    /// Its member and group stay; else it ends with them.
    pub(super) follows: bool,
    /// Its member or group is held: it stays with them.
    pub(super) kept: bool,
}

/// The guard over one membership (or link) table: which ends rest only on
/// the batch no longer listing a membership, and whether they leave too
/// many members in no group of the kind at all.
#[derive(Default)]
pub(super) struct Ends {
    /// Per member: current rows before the run, and after it as planned.
    members: HashMap<i32, (i32, i32)>,
    /// Judged ends: row index, member, and the change.
    judged: Vec<(usize, i32, Candidate)>,
}

impl Ends {
    /// Plans one existing row: answers whether it ends the run current.
    pub(super) fn judge(&mut self, holds: &mut Holds, row: RowPlan) -> bool {
        let RowPlan { index, key, pair: (_, member), active, listed, spoken, follows, kept } = row;
        let kept = kept || holds.is_kept(key);
        let mut wanted = listed && follows;
        if active && !wanted && follows && kept {
            wanted = true;
        } else if active && !wanted && follows {
            let change =
                Candidate { key, evidence: HeldEvidence::NotListed, reason: None, pair: Some(row.pair) };
            self.judged.push((index, member, change));
        }
        if spoken && follows {
            holds.spoke(key);
        }
        // Rows already held are neither weighed nor counted again.
        let counts = self.members.entry(member).or_default();
        counts.0 += i32::from(active && follows && !kept);
        counts.1 += i32::from(wanted && !kept);
        wanted
    }

    /// Counts the memberships the run creates, per member.
    pub(super) fn count_new(&mut self, members: impl Iterator<Item = i32>) {
        for member in members {
            self.members.entry(member).or_default().1 += 1;
        }
    }

    /// Judges the table: members that had a current row and would have
    /// none, against members that had one; when held, their judged ends
    /// stay current in `wanted`.
    pub(super) fn decide(self, holds: &mut Holds, wanted: &mut [bool]) {
        let emptied: HashSet<i32> = self
            .members
            .iter()
            .filter(|(_, (before, after))| *before > 0 && *after == 0)
            .map(|(m, _)| *m)
            .collect();
        let with_any = count(self.members.values().filter(|(before, _)| *before > 0));
        let doubted: Vec<&(usize, i32, Candidate)> =
            self.judged.iter().filter(|(_, member, _)| emptied.contains(member)).collect();
        let judged = count(doubted.iter().map(|(_, member, _)| member).collect::<HashSet<_>>().into_iter());
        let list: Vec<Candidate> = doubted.iter().map(|(_, _, c)| *c).collect();
        if holds.decide(with_any, judged, &list) {
            for (index, _, _) in doubted {
                wanted[*index] = true;
            }
        }
    }
}

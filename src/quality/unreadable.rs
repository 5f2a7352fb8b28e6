//! The UNREADABLE_RECORD finding: records of a Wonde listing that could
//! not be read, their accounts, and the active accounts that stay only
//! because the listing was not read whole (they may have left). A pure
//! function of what the run saw; `super::refresh` decides how long a
//! finding lasts.

use entity::enums::{DataQualityKind, PersonKind};
use std::collections::{BTreeSet, HashMap};

use super::detect::{plural, sorted};
use super::{Finding, Records};
use crate::sync::reconcile::KeptUnread;
use crate::sync::source::{UnreadableRecord, listing};

/// The kinds of account a Wonde listing's records are (none for groups;
/// a deletion may name any kind).
pub(super) fn holds(endpoint: &str) -> &'static [PersonKind] {
    match endpoint {
        listing::STUDENTS | listing::LEAVERS => &[PersonKind::Student],
        listing::STAFF => &[PersonKind::Staff],
        listing::GUARDIANS => &[PersonKind::Guardian],
        listing::DELETIONS => &[PersonKind::Student, PersonKind::Staff, PersonKind::Guardian],
        _ => &[],
    }
}

/// The kind whose absences a listing speaks for: the listings of present
/// accounts (the leavers listing names leavers; it omits nobody).
fn absences_of(endpoint: &str) -> Option<PersonKind> {
    match endpoint {
        listing::STUDENTS => Some(PersonKind::Student),
        listing::STAFF => Some(PersonKind::Staff),
        listing::GUARDIANS => Some(PersonKind::Guardian),
        _ => None,
    }
}

/// The most unreadable records one finding describes; it counts the rest.
const DESCRIBED: usize = 10;

/// One finding per listing holding records that could not be read: their
/// source ids and active accounts (`stored`: by kind and Wonde id), and,
/// for a listing whose absences count, the active accounts kept only
/// because it was not read whole (`kept`). In listing order as fetched.
pub fn unreadable(
    records: &[UnreadableRecord],
    kept: &[KeptUnread],
    stored: &HashMap<(PersonKind, String), i32>,
) -> Vec<Finding> {
    let mut listings: Vec<(&str, Vec<&UnreadableRecord>)> = Vec::new();
    for record in records {
        match listings.iter_mut().find(|(name, _)| *name == record.endpoint) {
            Some((_, found)) => found.push(record),
            None => listings.push((&record.endpoint, vec![record])),
        }
    }
    listings
        .into_iter()
        .map(|(name, found)| {
            let mut records = Records { listing: Some(name.to_owned()), ..Records::default() };
            let mut kept_here = 0;
            for &kind in holds(name) {
                let mut accounts: Vec<i32> = found
                    .iter()
                    .filter_map(|r| stored.get(&(kind, r.what.record.clone()?)).copied())
                    .collect();
                if absences_of(name) == Some(kind) {
                    // The unreadable records' own accounts are missing from
                    // the listing too, but they are named as the records.
                    let silent = kept.iter().filter(|k| k.kind == kind).flat_map(|k| k.ids.iter().copied());
                    let silent = sorted(silent.filter(|id| !accounts.contains(id)).collect());
                    kept_here = silent.len();
                    accounts.extend(silent);
                }
                let accounts = sorted(accounts);
                match kind {
                    PersonKind::Student => records.students = accounts,
                    PersonKind::Staff => records.staff = accounts,
                    PersonKind::Guardian => records.guardians = accounts,
                }
            }
            let ids: BTreeSet<&str> = found.iter().filter_map(|r| r.what.record.as_deref()).collect();
            records.source_ids = ids.into_iter().map(str::to_owned).collect();
            let detail = unreadable_detail(name, &found, kept_here);
            Finding { kind: DataQualityKind::UnreadableRecord, records, detail }
        })
        .collect()
}

fn unreadable_detail(name: &str, found: &[&UnreadableRecord], kept: usize) -> String {
    let mut described: Vec<String> = found
        .iter()
        .take(DESCRIBED)
        .map(|r| {
            let record = r.what.record.as_deref().unwrap_or("without a readable id");
            format!("{record}: {}: {}", r.what.field, r.what.detail)
        })
        .collect();
    if found.len() > DESCRIBED {
        described.push(format!("and {} more", found.len() - DESCRIBED));
    }
    let (records, were) = if found.len() == 1 {
        ("1 record".to_owned(), "it was")
    } else {
        (format!("{} records", found.len()), "they were")
    };
    let then = match (name, absences_of(name)) {
        (listing::LEAVERS, _) => {
            "A pupil it names as a leaver who is still active (listed here) stays so until it can be read."
                .to_owned()
        }
        (listing::DELETIONS, _) => {
            "An account it names as deleted that is still active (listed here) stays so until it can be read."
                .to_owned()
        }
        (_, Some(kind)) => {
            let who = match kind {
                PersonKind::Student => plural(kept, "active pupil", "active pupils"),
                PersonKind::Staff => plural(kept, "active member of staff", "active members of staff"),
                PersonKind::Guardian => plural(kept, "active guardian", "active guardians"),
            };
            let are = if kept == 1 { "is" } else { "are" };
            format!(
                "Until the listing can be read whole, nobody missing from it is taken for gone: {who} missing \
                 from it {are} kept and listed here; check whether they left."
            )
        }
        (_, None) => {
            "Until the listing can be read whole, memberships of groups missing from it are kept.".to_owned()
        }
    };
    format!(
        "Wonde's {name} listing holds {records} that could not be read ({}); {were} left as stored. {then} \
         Fix the record in the MIS.",
        described.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(findings: &[Finding]) -> Vec<(DataQualityKind, Records)> {
        findings.iter().map(|f| (f.kind, f.records.clone())).collect()
    }

    fn unread(endpoint: &str, record: Option<&str>, field: &str) -> UnreadableRecord {
        UnreadableRecord {
            endpoint: endpoint.to_owned(),
            page: 2,
            what: crate::wonde::Unreadable {
                record: record.map(str::to_owned),
                field: field.to_owned(),
                detail: "not a date".to_owned(),
            },
        }
    }

    #[test]
    fn unreadable_records_are_one_finding_a_listing_naming_whom_they_keep() {
        let records = [
            unread(listing::STUDENTS, Some("S1"), "education_details.data.leaving_date"),
            unread(listing::CLASSES, None, "id"),
            unread(listing::STUDENTS, None, "id"),
            unread(listing::LEAVERS, Some("L1"), "education_details.data.leaving_date"),
            unread(listing::DELETIONS, Some("S1"), "deleted_at"),
        ];
        let kept = [KeptUnread { kind: PersonKind::Student, ids: vec![9, 4, 7] }];
        // Only active accounts are looked up (`quality::accounts_of_unreadable`).
        let stored = HashMap::from([
            ((PersonKind::Student, "S1".to_owned()), 7),
            ((PersonKind::Student, "L1".to_owned()), 8),
            ((PersonKind::Staff, "S1".to_owned()), 70),
        ]);
        let found = unreadable(&records, &kept, &stored);
        assert_eq!(
            kinds(&found),
            vec![
                (
                    DataQualityKind::UnreadableRecord,
                    Records {
                        students: vec![4, 7, 9],
                        source_ids: vec!["S1".to_owned()],
                        listing: Some("students".to_owned()),
                        ..Records::default()
                    }
                ),
                (
                    DataQualityKind::UnreadableRecord,
                    Records { listing: Some("classes".to_owned()), ..Records::default() }
                ),
                // The leavers listing omits nobody: only its own record.
                (
                    DataQualityKind::UnreadableRecord,
                    Records {
                        students: vec![8],
                        source_ids: vec!["L1".to_owned()],
                        listing: Some("leavers".to_owned()),
                        ..Records::default()
                    }
                ),
                // A deletion may name any kind of account.
                (
                    DataQualityKind::UnreadableRecord,
                    Records {
                        students: vec![7],
                        staff: vec![70],
                        source_ids: vec!["S1".to_owned()],
                        listing: Some("deletions".to_owned()),
                        ..Records::default()
                    }
                ),
            ]
        );
        assert!(found[0].detail.contains("students listing holds 2 records"), "{}", found[0].detail);
        assert!(found[0].detail.contains("S1: education_details.data.leaving_date: not a date"));
        assert!(found[0].detail.contains("without a readable id: id"));
        assert!(found[0].detail.contains("2 active pupils missing from it are kept"));
        assert!(found[1].detail.contains("memberships of groups missing from it are kept"));
        assert!(found[2].detail.contains("as a leaver who is still active"));
        assert!(found[3].detail.contains("as deleted that is still active"), "{}", found[3].detail);
        assert!(unreadable(&[], &kept, &stored).is_empty(), "no unreadable record, no finding");
    }
}

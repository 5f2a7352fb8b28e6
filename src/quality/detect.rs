//! The findings of a school's stored directory and of one run's
//! observations, as pure functions of rows: no database here.

use entity::enums::{DataQualityKind, PersonKind};
use std::collections::{BTreeMap, BTreeSet};

use super::{Finding, Records};
use crate::families::{
    GuardianRow, IdentityRow, ambiguous_upn_holders, email_key, is_placeholder_email, names_agree, upn_key,
};
use crate::sync::reconcile::Ambiguity;
use crate::sync::source::DroppedDuplicate;

/// An active student of the school: id, email, UPN.
pub type StudentRow = (i32, Option<String>, Option<String>);

/// What the stored directory says, as the detection needs it.
#[derive(Debug, Default)]
pub struct Directory {
    pub school_id: i32,
    /// Active guardians of the trust holding an email that an active
    /// guardian of the school holds.
    pub guardians: Vec<GuardianRow>,
    /// Active students of the school.
    pub students: Vec<StudentRow>,
    /// The school's students holding a UPN, and the trust's other holders
    /// of those UPNs, leavers too (not purged): who shares one is judged as
    /// the family rule judges it.
    pub upn_holders: Vec<IdentityRow>,
}

/// Every finding of the school, in kind order then record order.
pub fn findings(
    directory: &Directory,
    duplicates: &[DroppedDuplicate],
    ambiguities: &[Ambiguity],
) -> Vec<Finding> {
    let mut out = emails(directory);
    out.extend(pupils_without_a_valid_upn(&directory.students));
    out.extend(pupils_sharing_a_upn(&directory.upn_holders));
    out.extend(ambiguous(ambiguities));
    out.extend(dropped(duplicates));
    out.sort_by_key(|f| kind_rank(f.kind));
    out
}

fn kind_rank(kind: DataQualityKind) -> usize {
    use DataQualityKind as K;
    match kind {
        K::SharedEmailDifferentNames => 0,
        K::PlaceholderEmail => 1,
        K::GuardianEmailIsPupilEmail => 2,
        K::PupilWithoutUpn => 3,
        K::PupilUpnInvalid => 4,
        K::PupilsShareUpn => 5,
        K::DuplicateGuardianRecords => 6,
        K::AmbiguousReidentification => 7,
        K::DuplicateInFetch => 8,
        K::UnreadableRecord => 9,
    }
}

pub(super) fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

/// The guardian email findings, one per email at most per kind: a
/// placeholder; else names that disagree (trust-wide, as the family rule
/// is); else the same person twice at this school. Independently, an email
/// that is also a pupil's.
fn emails(directory: &Directory) -> Vec<Finding> {
    let mut holders: BTreeMap<String, Vec<&GuardianRow>> = BTreeMap::new();
    for row in &directory.guardians {
        if let Some(key) = row.2.as_deref().and_then(email_key) {
            holders.entry(key).or_default().push(row);
        }
    }
    let mut pupils: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for (id, email, _) in &directory.students {
        if let Some(key) = email.as_deref().and_then(email_key) {
            pupils.entry(key).or_default().insert(*id);
        }
    }
    let mut out = Vec::new();
    for (key, rows) in holders {
        let here: Vec<i32> =
            sorted(rows.iter().filter(|r| r.1 == directory.school_id).map(|r| r.0).collect());
        if here.is_empty() {
            continue;
        }
        if is_placeholder_email(&key) {
            out.push(Finding {
                kind: DataQualityKind::PlaceholderEmail,
                records: Records { guardians: here.clone(), ..Records::default() },
                detail: format!(
                    "{} a placeholder email address, which joins no family; record the parent's own \
                     address, or none.",
                    plural(here.len(), "guardian record has", "guardian records have")
                ),
            });
            continue;
        }
        if !names_agree(rows.iter().map(|r| (r.3.as_str(), r.4.as_str()))) {
            let elsewhere = rows.len() - here.len();
            out.push(Finding {
                kind: DataQualityKind::SharedEmailDifferentNames,
                records: Records {
                    guardians: sorted(rows.iter().map(|r| r.0).collect()),
                    ..Records::default()
                },
                detail: format!(
                    "{} with different names share one email address ({} at other schools of the trust), \
                     so it joins none of them into a family; give each parent their own address.",
                    plural(rows.len(), "guardian record", "guardian records"),
                    elsewhere
                ),
            });
        } else if here.len() > 1 {
            out.push(Finding {
                kind: DataQualityKind::DuplicateGuardianRecords,
                records: Records { guardians: here.clone(), ..Records::default() },
                detail: format!(
                    "{} guardian records at this school have the same name and email: one person entered \
                     more than once; merge them in the MIS.",
                    here.len()
                ),
            });
        }
        if let Some(students) = pupils.get(&key) {
            out.push(Finding {
                kind: DataQualityKind::GuardianEmailIsPupilEmail,
                records: Records {
                    guardians: here.clone(),
                    students: students.iter().copied().collect(),
                    ..Records::default()
                },
                detail: format!(
                    "{} the email address of {}; messages for parents would reach the pupil.",
                    plural(here.len(), "guardian record has", "guardian records have"),
                    plural(students.len(), "pupil", "pupils")
                ),
            });
        }
    }
    out
}

/// One finding per active pupil without a UPN, and one per pupil whose
/// UPN is given but is not a valid UPN ([`crate::upn`]), in id order. The
/// details name no UPN: the record shows it.
fn pupils_without_a_valid_upn(students: &[StudentRow]) -> Vec<Finding> {
    let mut pupils: Vec<(i32, DataQualityKind)> = students
        .iter()
        .filter_map(|(id, _, upn)| match upn.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            None => Some((*id, DataQualityKind::PupilWithoutUpn)),
            Some(upn) if upn_key(upn).is_none() => Some((*id, DataQualityKind::PupilUpnInvalid)),
            Some(_) => None,
        })
        .collect();
    pupils.sort_unstable_by_key(|(id, _)| *id);
    pupils
        .into_iter()
        .map(|(id, kind)| Finding {
            kind,
            records: Records { students: vec![id], ..Records::default() },
            detail: if kind == DataQualityKind::PupilWithoutUpn {
                "A pupil has no UPN, so the same child at another school of the trust cannot be recognised."
            } else {
                "A pupil's UPN is not a valid UPN (13 characters: a check letter, 11 digits, then a digit or \
                 a letter, with the check letter DfE's rule gives), so it joins no family: the same child at \
                 another school of the trust is not recognised."
            }
            .to_owned(),
        })
        .collect()
}

/// One finding per UPN whose holders cannot be one child
/// (`families::ambiguous_upn_holders`: two pupils on roll at one school at once, or
/// records under different names, leavers included, here or at another
/// school of the trust), compared as the family rule compares UPNs
/// ([`upn_key`]), in UPN order, listing every holder. The detail counts
/// pupils and names no UPN: the records show it.
fn pupils_sharing_a_upn(students: &[IdentityRow]) -> Vec<Finding> {
    ambiguous_upn_holders(students)
        .into_values()
        .map(|ids| {
            let n = ids.len();
            Finding {
                kind: DataQualityKind::PupilsShareUpn,
                records: Records { students: sorted(ids), ..Records::default() },
                detail: format!(
                    "{n} pupils share one UPN (on roll together at one school, or under different names, \
                     here or at another school of the trust). A UPN belongs to one child, so at least one of \
                     them is wrong in a MIS; until it is fixed, the trust's families join nobody by that UPN."
                ),
            }
        })
        .collect()
}

fn ambiguous(ambiguities: &[Ambiguity]) -> Vec<Finding> {
    ambiguities
        .iter()
        .map(|a| {
            let candidates = sorted(a.candidates.clone());
            let n = candidates.len();
            let mut records = Records { source_ids: vec![a.source_id.clone()], ..Records::default() };
            let what = match a.kind {
                PersonKind::Student => {
                    records.students = candidates;
                    "pupil"
                }
                PersonKind::Staff => {
                    records.staff = candidates;
                    "staff"
                }
                PersonKind::Guardian => {
                    records.guardians = candidates;
                    "guardian"
                }
            };
            Finding {
                kind: DataQualityKind::AmbiguousReidentification,
                records,
                detail: format!(
                    "A {what} record from the MIS (source id {}) matched {n} existing accounts by {}; it was \
                     kept as a new account and nothing was merged. Tell us which one it is by fixing the MIS.",
                    a.source_id,
                    a.rule.replace('_', " ")
                ),
            }
        })
        .collect()
}

fn dropped(duplicates: &[DroppedDuplicate]) -> Vec<Finding> {
    let unique: BTreeSet<(&str, &str)> =
        duplicates.iter().map(|d| (d.endpoint.as_str(), d.source_id.as_str())).collect();
    unique
        .into_iter()
        .map(|(endpoint, source_id)| Finding {
            kind: DataQualityKind::DuplicateInFetch,
            records: Records { source_ids: vec![source_id.to_owned()], ..Records::default() },
            detail: format!(
                "Wonde sent the {endpoint} record {source_id} more than once in one fetch; it was taken once."
            ),
        })
        .collect()
}

pub(super) fn sorted(mut ids: Vec<i32>) -> Vec<i32> {
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use entity::enums::AccountStatus;

    fn guardian(id: i32, school: i32, email: &str, forename: &str, surname: &str) -> GuardianRow {
        (id, school, Some(email.to_owned()), forename.to_owned(), surname.to_owned())
    }

    fn kinds(findings: &[Finding]) -> Vec<(DataQualityKind, Records)> {
        findings.iter().map(|f| (f.kind, f.records.clone())).collect()
    }

    fn guardians(ids: &[i32]) -> Records {
        Records { guardians: ids.to_vec(), ..Records::default() }
    }

    #[test]
    fn one_upn_on_several_pupils_is_one_finding() {
        let pupil = |id: i32, upn: Option<&str>| (id, None, upn.map(str::to_owned));
        let directory = Directory {
            school_id: 1,
            guardians: Vec::new(),
            students: vec![
                pupil(3, Some("P207000016049")),
                pupil(1, Some(" p207000016049\t")),
                pupil(2, Some("B801200005001")),
                pupil(4, Some("U80000000000T")),
                pupil(5, Some("U80000000000T")),
                pupil(6, None),
                pupil(7, Some(" ")),
                pupil(8, Some("UNKNOWN")),
                pupil(9, Some("unknown")),
                pupil(10, Some("A207000016049")),
                pupil(15, Some("J100000000004")),
            ],
            upn_holders: Vec::new(),
        };
        // Every pupil above on roll, all named Amy Kay; then leavers: Lee
        // holds Amy's UPN (a copy), Amy left once before (re-admitted).
        let holder = |(id, _, upn): &StudentRow, status: AccountStatus, forename: &str| -> IdentityRow {
            (*id, 1, upn.clone(), status, forename.to_owned(), "Kay".to_owned())
        };
        let mut upn_holders: Vec<IdentityRow> =
            directory.students.iter().map(|row| holder(row, AccountStatus::Active, "Amy")).collect();
        upn_holders.push(holder(&pupil(11, Some("B801200005001")), AccountStatus::Deactivated, "Lee"));
        upn_holders.push(holder(&pupil(16, Some("j100000000004")), AccountStatus::Deactivated, "amy"));
        let directory = Directory { upn_holders, ..directory };
        let found = findings(&directory, &[], &[]);
        let of = |kind: DataQualityKind| -> Vec<Records> {
            found.iter().filter(|f| f.kind == kind).map(|f| f.records.clone()).collect()
        };
        let students = |ids: &[i32]| Records { students: ids.to_vec(), ..Records::default() };
        assert_eq!(
            of(DataQualityKind::PupilsShareUpn),
            vec![students(&[2, 11]), students(&[1, 3]), students(&[4, 5])],
            "in UPN order; no UPN is no shared UPN, nor is a value that is not a UPN, nor a leaver of \
             the same name"
        );
        assert_eq!(
            of(DataQualityKind::PupilUpnInvalid),
            vec![students(&[8]), students(&[9]), students(&[10])],
            "a placeholder and a wrong check letter are each a pupil's finding"
        );
        assert_eq!(of(DataQualityKind::PupilWithoutUpn), vec![students(&[6]), students(&[7])]);
    }

    #[test]
    fn each_email_is_one_kind_of_guardian_finding() {
        let directory = Directory {
            school_id: 1,
            guardians: vec![
                guardian(1, 1, "noemail@ash.org", "Ann", "Smith"),
                guardian(2, 1, "NOEMAIL@ash.org", "Bob", "Jones"),
                guardian(3, 1, "office@ash.org", "Cat", "Lee"),
                guardian(4, 2, "office@ash.org", "Dev", "Patel"),
                guardian(5, 1, "eve@x.org", "Eve", "Brown"),
                guardian(6, 1, "eve@x.org", "", "brown"),
                guardian(7, 1, "kid@pupils.org", "Fay", "Green"),
                guardian(8, 2, "gus@x.org", "Gus", "Hill"),
            ],
            students: vec![
                (10, Some("Kid@pupils.org".to_owned()), Some("P207000016049".to_owned())),
                (11, None, None),
            ],
            upn_holders: Vec::new(),
        };
        let found = findings(&directory, &[], &[]);
        assert_eq!(
            kinds(&found),
            vec![
                (DataQualityKind::SharedEmailDifferentNames, guardians(&[3, 4])),
                (DataQualityKind::PlaceholderEmail, guardians(&[1, 2])),
                (
                    DataQualityKind::GuardianEmailIsPupilEmail,
                    Records { guardians: vec![7], students: vec![10], ..Records::default() }
                ),
                (DataQualityKind::PupilWithoutUpn, Records { students: vec![11], ..Records::default() }),
                (DataQualityKind::DuplicateGuardianRecords, guardians(&[5, 6])),
            ]
        );
        assert!(found[0].detail.contains("(1 at other schools"), "{}", found[0].detail);
        for finding in &found {
            for name in ["Ann", "Cat", "Eve", "office@", "noemail"] {
                assert!(!finding.detail.contains(name), "no personal data in {}", finding.detail);
            }
        }
    }

    #[test]
    fn run_observations_become_findings_with_source_ids() {
        let duplicates = [
            DroppedDuplicate { endpoint: "students".to_owned(), source_id: "S9".to_owned() },
            DroppedDuplicate { endpoint: "students".to_owned(), source_id: "S9".to_owned() },
        ];
        let ambiguities = [Ambiguity {
            kind: PersonKind::Guardian,
            source_id: "G7".to_owned(),
            rule: "names_and_child",
            candidates: vec![9, 4],
        }];
        let found = findings(&Directory::default(), &duplicates, &ambiguities);
        assert_eq!(
            kinds(&found),
            vec![
                (
                    DataQualityKind::AmbiguousReidentification,
                    Records {
                        guardians: vec![4, 9],
                        source_ids: vec!["G7".to_owned()],
                        ..Records::default()
                    }
                ),
                (
                    DataQualityKind::DuplicateInFetch,
                    Records { source_ids: vec!["S9".to_owned()], ..Records::default() }
                ),
            ]
        );
        assert!(found[0].detail.contains("names and child"));
    }
}

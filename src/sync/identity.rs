//! Identity carried over when a MIS re-keys its records.
//!
//! Records are keyed by (school, source id), and a returning student by
//! UPI too. When a school changes MIS, Wonde gives every record a new id
//! and often a new UPI; the person is the same. A record whose keys are
//! unknown is matched to an existing account of the school by a second
//! rule (students: UPN; guardians: email, or without one the same names
//! linked to the same child; staff: email; a UPN or an email only under
//! names that agree), but only when exactly one
//! account qualifies and no other record of the batch claims it. Two
//! candidates are never merged: the record is created new and the
//! ambiguity is reported (a data-quality finding for the school office).

use std::collections::{HashMap, HashSet};

use crate::families;

/// What a second rule made of one record with unknown keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Resolution {
    /// No account qualifies: a new person.
    New,
    /// Exactly one account qualifies, and no other record claims it.
    Same(usize),
    /// Several accounts qualify, or several records claim one account.
    Ambiguous(Vec<usize>),
}

/// Resolves each record's candidate rows (row indices that its rule's key
/// matches), leaving out rows already `claimed` by a record under their
/// own keys (a row whose id is still in the batch is someone else).
pub(super) fn resolve(candidates: &[Vec<usize>], claimed: &HashSet<usize>) -> Vec<Resolution> {
    let free: Vec<Vec<usize>> = candidates
        .iter()
        .map(|rows| {
            let mut rows: Vec<usize> = rows.iter().copied().filter(|row| !claimed.contains(row)).collect();
            rows.sort_unstable();
            rows.dedup();
            rows
        })
        .collect();
    let mut demand: HashMap<usize, usize> = HashMap::new();
    for rows in &free {
        for &row in rows {
            *demand.entry(row).or_default() += 1;
        }
    }
    free.into_iter()
        .map(|rows| match rows.as_slice() {
            [] => Resolution::New,
            [row] if demand.get(row) == Some(&1) => Resolution::Same(*row),
            _ => Resolution::Ambiguous(rows),
        })
        .collect()
}

/// Row indices by a key (`None` keys are left out).
pub(super) fn index<T>(rows: &[T], key: impl Fn(&T) -> Option<String>) -> HashMap<String, Vec<usize>> {
    let mut index: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        if let Some(key) = key(row) {
            index.entry(key).or_default().push(i);
        }
    }
    index
}

/// The candidates of a key in an index (none for `None`).
pub(super) fn candidates(index: &HashMap<String, Vec<usize>>, key: Option<String>) -> Vec<usize> {
    key.and_then(|key| index.get(&key).cloned()).unwrap_or_default()
}

/// A UPN as a key within the school: trimmed, upper-cased, and only with a
/// UPN's shape ([`crate::upn::shaped_key`]: a slip the old and new MIS
/// share still identifies the child; a placeholder identifies nobody).
pub(super) fn upn_key(upn: Option<&str>) -> Option<String> {
    upn.and_then(crate::upn::shaped_key)
}

/// Names as a key: each part as the family rule folds it; no surname, no key.
pub(super) fn names_key(forename: &str, surname: &str) -> Option<String> {
    let (forename, surname) = (families::name_key(forename), families::name_key(surname));
    (!surname.is_empty()).then(|| format!("{forename}\u{1f}{surname}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_candidate_one_claimant_is_the_same_person() {
        let claimed = HashSet::from([9]);
        let got = resolve(&[vec![1], vec![2, 3], vec![4], vec![4], vec![9], vec![]], &claimed);
        assert_eq!(
            got,
            vec![
                Resolution::Same(1),
                Resolution::Ambiguous(vec![2, 3]),
                Resolution::Ambiguous(vec![4]),
                Resolution::Ambiguous(vec![4]),
                // The only candidate is someone present under their own id.
                Resolution::New,
                Resolution::New,
            ]
        );
    }

    #[test]
    fn keys_fold_case_and_space() {
        assert_eq!(upn_key(Some(" p207000016049 ")).as_deref(), Some("P207000016049"));
        assert_eq!(upn_key(Some("  ")), None);
        // A placeholder identifies nobody, so it never re-identifies; a
        // slip with a UPN's shape still does, within the school.
        assert_eq!(upn_key(Some("UNKNOWN")), None);
        assert_eq!(upn_key(Some("q207000016049")).as_deref(), Some("Q207000016049"));
        assert_eq!(names_key(" Jane ", "Smith"), names_key("jane", "SMITH "));
        assert_ne!(names_key("Jane", "Smith"), names_key("John", "Smith"));
        assert_eq!(names_key("Jane", ""), None);
    }
}

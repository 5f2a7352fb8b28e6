//! Who is one person: the keys that make records of several schools one
//! guardian (an email) or one child (a UPN), and when a key cannot name
//! one person. The family index, the reach path, subject access, the sync's
//! re-identification and the data-quality findings all judge by these
//! functions, so that no two of them can disagree about who someone is.

use entity::enums::AccountStatus;
use std::collections::{BTreeMap, BTreeSet};

use super::IdentityRow;

/// The key that makes two guardian records one person.
pub fn email_key(email: &str) -> Option<String> {
    let key = email.trim().to_lowercase();
    (!key.is_empty()).then_some(key)
}

/// Local parts (before the `@`, with `.`, `-` and `_` removed) that MIS
/// users type when a parent has no email: `noemail@`, `no-reply@`,
/// `n/a`... An address with one of these names nobody.
const PLACEHOLDER_LOCAL_PARTS: &[&str] = &[
    "noemail",
    "nomail",
    "none",
    "noreply",
    "donotreply",
    "dontreply",
    "unknown",
    "notknown",
    "test",
    "na",
    "n/a",
    "nil",
    "null",
    "noaddress",
    "notprovided",
    "notgiven",
];

/// Whether an email (or its [`email_key`]) is an obvious placeholder: no
/// `@` at all (`n/a`, `none`, `-`), or a local part from
/// [`PLACEHOLDER_LOCAL_PARTS`] whatever the domain (`noemail@school.org`).
/// Domains are not judged: `example.org` is as real as any to us.
/// The one test for both the family rule and the data-quality findings.
pub fn is_placeholder_email(email: &str) -> bool {
    let key = email.trim().to_lowercase();
    let Some((local, _domain)) = key.rsplit_once('@') else { return true };
    let local: String = local.chars().filter(|c| !matches!(c, '.' | '-' | '_')).collect();
    PLACEHOLDER_LOCAL_PARTS.contains(&local.as_str())
}

/// A name part compared as people read it: trimmed, inner spaces
/// collapsed, case-folded.
pub fn name_key(part: &str) -> String {
    part.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Whether these (forename, surname) pairs can all be one person: the
/// surnames agree, and so do the forenames. A blank part is unknown, not
/// different (MIS contacts often lack a forename: "Smith" may be "Ann
/// Smith"), so it agrees with anything; titles are not compared.
pub fn names_agree<'a>(names: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
    let (mut forename, mut surname): (Option<String>, Option<String>) = (None, None);
    for (fore, sur) in names {
        for (seen, part) in [(&mut forename, name_key(fore)), (&mut surname, name_key(sur))] {
            if part.is_empty() {
                continue;
            }
            match seen {
                Some(known) if *known != part => return false,
                Some(_) => {}
                None => *seen = Some(part),
            }
        }
    }
    true
}

/// A UPN as the family rule reads it: trimmed, upper-cased, and only a
/// valid UPN; a placeholder or a slip joins nobody.
pub use crate::upn::key as upn_key;

/// The UPN keys whose holders cannot be one child ([`one_child`]): at
/// least one of those records is wrong (a UPN is one child's for life), so
/// which of them a record elsewhere is cannot be told, and the UPN joins
/// nobody (nor matches anyone in a subject access request or an erasure)
/// until the record is fixed. Copying a sibling's UPN onto a new pupil's
/// record, the sibling still on roll or a leaver, would otherwise join two
/// unrelated families; erasing one of two conflicting records would then
/// join the other to the first child's records elsewhere (both seen in
/// trials). The `PUPILS_SHARE_UPN` finding judges one school's holders the
/// same way.
pub fn ambiguous_upns(students: &[IdentityRow]) -> BTreeSet<String> {
    ambiguous_upn_holders(students).into_keys().collect()
}

/// [`ambiguous_upns`] with the ids of each key's holders, in UPN order.
pub fn ambiguous_upn_holders(students: &[IdentityRow]) -> BTreeMap<String, Vec<i32>> {
    let mut holders: BTreeMap<String, Vec<&IdentityRow>> = BTreeMap::new();
    for row in students {
        if let Some(key) = row.2.as_deref().and_then(upn_key) {
            holders.entry(key).or_default().push(row);
        }
    }
    holders
        .into_iter()
        .filter(|(_, rows)| !one_child(rows))
        .map(|(key, rows)| (key, rows.iter().map(|row| row.0).collect()))
        .collect()
}

/// Whether these records holding one UPN can be one child: at most one of
/// them active at any one school (two on roll at once are two children),
/// and their names agreeing ([`names_agree`]). A leaver and a pupil of the
/// same name at one school are one child re-admitted under a new MIS
/// record; records under other names are a UPN copied onto the wrong
/// record (a child whose name changed between schools is thus not joined:
/// a missed join is shown as such, a wrong one discloses a child).
fn one_child(holders: &[&IdentityRow]) -> bool {
    let mut on_roll_at = BTreeSet::new();
    holders.iter().filter(|row| row.3 == AccountStatus::Active).all(|row| on_roll_at.insert(row.1))
        && names_agree(holders.iter().map(|row| (row.4.as_str(), row.5.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_recognised_whatever_the_domain() {
        for email in
            ["noemail@school.org", " No-Reply@x.com", "do.not.reply@y.org", "n/a", "none", "", "test@a.b"]
        {
            assert!(is_placeholder_email(email), "{email}");
        }
        for email in ["ann@example.org", "nora@x.org", "testa@x.org", "office@ash.sch.uk"] {
            assert!(!is_placeholder_email(email), "{email}");
        }
    }

    #[test]
    fn names_agree_when_blank_parts_are_unknown() {
        assert!(names_agree([("Ann", "Smith"), (" ann ", "SMITH"), ("", "Smith")]));
        assert!(names_agree([("Mary  Ann", "Smith"), ("mary ann", "smith")]));
        assert!(!names_agree([("Ann", "Smith"), ("Dan", "Smith")]));
        assert!(!names_agree([("Ann", "Smith"), ("", "Jones")]));
    }

    #[test]
    fn email_keys_are_trimmed_and_case_folded() {
        assert_eq!(email_key("  Ann@X.org "), Some("ann@x.org".to_owned()));
        assert_eq!(email_key("   "), None);
    }
}

//! England's Unique Pupil Number as an identity. A UPN is one child's for
//! life (DfE), so the same UPN at two schools of a trust is the same child
//! (families, subject access) and a pupil arriving under new MIS ids is
//! recognised by it (re-identification). MIS fields also hold placeholders
//! (`UNKNOWN`, `TBC`, `0`) and slips, and taking two children for one
//! shows one family's guardians as the other child's. So:
//!
//! - across schools, only a valid UPN identifies a child ([`key`]): DfE's
//!   shape and its check letter, which catches any one mistyped digit and
//!   any two swapped characters, so such a slip cannot land on another
//!   child's UPN;
//! - within one school, when its MIS re-keys every record, a value with a
//!   UPN's shape identifies the child ([`shaped_key`]): the old and new
//!   MIS carry the same value, slip or not, and refusing a slip there would
//!   deactivate the child and make a new account. A placeholder has no
//!   UPN's shape and identifies nobody anywhere.
//!
//! A pupil whose UPN is not valid is a data-quality finding
//! (`PUPIL_UPN_INVALID`).
//!
//! The shape is DfE's (Common Basic Data Set, "Unique Pupil Number"): 13
//! characters, a check letter, 11 digits, then a digit (a permanent UPN) or
//! a letter (a temporary one); the first three digits are the issuing local
//! authority's code, never 000 or 999 ([`FILLER_LA_CODES`]). The check
//! letter is the sum of each later character's value times its position (2
//! to 13) modulo 23, read in [`LETTERS`]; a temporary UPN's last letter
//! counts as its place in [`LETTERS`].

/// The 23 letters a check letter (and a temporary UPN's last character)
/// may be, in value order: the alphabet without I, O and S.
pub const LETTERS: &[u8; 23] = b"ABCDEFGHJKLMNPQRTUVWXYZ";

/// A UPN as an identity across schools: trimmed and upper-cased, `None`
/// unless it is a valid UPN ([`is_valid`]).
pub fn key(upn: &str) -> Option<String> {
    let key = upn.trim().to_uppercase();
    is_valid(&key).then_some(key)
}

/// A UPN as an identity within one school: trimmed and upper-cased, `None`
/// unless it has a UPN's shape ([`has_shape`]), whatever its check letter.
pub fn shaped_key(upn: &str) -> Option<String> {
    let key = upn.trim().to_uppercase();
    has_shape(&key).then_some(key)
}

/// Whether `upn` (trimmed and upper-cased) is a UPN by DfE's shape and
/// check letter.
pub fn is_valid(upn: &str) -> bool {
    let Some((check, values)) = parts(upn) else { return false };
    let sum: u32 = values.iter().zip(2u32..).map(|(value, weight)| value * weight).sum();
    LETTERS.get((sum % 23) as usize) == Some(&check)
}

/// Whether `upn` (trimmed and upper-cased) has a UPN's shape: 13
/// characters, a check letter, 11 digits, then a digit or a letter, and a
/// local authority code (the first three digits) that is not a filler.
pub fn has_shape(upn: &str) -> bool {
    parts(upn).is_some()
}

/// The check letter and the values of the 12 characters after it, when
/// `upn` has a UPN's shape.
fn parts(upn: &str) -> Option<(u8, [u32; 12])> {
    let bytes = upn.as_bytes();
    let [check, middle @ .., last] = bytes else { return None };
    if bytes.len() != 13 || letter_value(*check).is_none() || !middle.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if FILLER_LA_CODES.contains(&&middle[..3]) {
        return None;
    }
    let last = if last.is_ascii_digit() { u32::from(last - b'0') } else { letter_value(*last)? };
    let mut values = [0u32; 12];
    for (value, digit) in values.iter_mut().zip(middle) {
        *value = u32::from(digit - b'0');
    }
    values[11] = last;
    Some((*check, values))
}

/// Local authority codes no UPN has: what a placeholder typed as digits
/// starts with. `A000000000000` has a valid check letter (every value is
/// 0), and was seen joining unrelated children. DfE's list of codes is not
/// checked: it grows as authorities reorganise (940 and later since 2021),
/// and a code missing from a copy of it would refuse every real UPN issued
/// there.
const FILLER_LA_CODES: [&[u8]; 2] = [b"000", b"999"];

/// A letter's value: its place in [`LETTERS`] (I, O and S have none).
fn letter_value(letter: u8) -> Option<u32> {
    LETTERS.iter().position(|l| *l == letter).and_then(|i| u32::try_from(i).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dfe_examples_and_their_slips() {
        // python-stdnum's example (`stdnum.gb.upn`), and its slip.
        assert!(is_valid("B801200005001"));
        assert!(!is_valid("A801200005001"));
        // 2x2 + 7x4 + 1x9 + 6x10 + 4x12 + 9x13 = 266 = 11x23 + 13: P.
        assert!(is_valid("P207000016049"));
        assert!(!is_valid("Q207000016049"));
        // One digit typed wrong, or two swapped.
        assert!(!is_valid("P207000016048"));
        assert!(!is_valid("P207000016094"));
    }

    #[test]
    fn a_temporary_upn_counts_its_last_letter() {
        // LA 800, then 0 at every digit: 8x2 + T's 16x13 = 224 = 9x23 + 17, so U.
        assert!(is_valid("U80000000000T"));
        assert!(!is_valid("A80000000000T"));
        // I, O and S are never a UPN's last letter, nor its check letter.
        assert!(!is_valid("A00000000000I"));
        assert!(!is_valid("I800000000000") && is_valid("T800000000000"));
    }

    #[test]
    fn placeholders_and_wrong_shapes_are_not_upns() {
        for value in ["", "0", "UNKNOWN", "TBC", "N/A", "Q20700001604", "P2070000160490", "Q2070000X6049"] {
            assert!(!is_valid(value), "{value}");
            assert_eq!(key(value), None, "{value}");
        }
        // Non-ASCII digits are not digits here.
        assert!(!is_valid("Q２07000016049"));
    }

    #[test]
    fn a_slip_has_the_shape_and_a_placeholder_has_not() {
        assert_eq!(shaped_key(" q207000016049").as_deref(), Some("Q207000016049"));
        assert_eq!(key("Q207000016049"), None);
        for value in ["TBC", "UNKNOWN", "0", "I207000016049", "Q20700001604I", "Q2070000X6049"] {
            assert_eq!(shaped_key(value), None, "{value}");
        }
        // Placeholders typed as digits: their check letters are right, and
        // no local authority has the code 000 or 999.
        for value in ["A000000000000", "F999999999999", "a000000000000 "] {
            assert_eq!(shaped_key(value), None, "{value}");
            assert_eq!(key(value), None, "{value}");
        }
    }

    #[test]
    fn a_key_is_trimmed_and_upper_cased() {
        assert_eq!(key(" p207000016049\t").as_deref(), Some("P207000016049"));
        assert_eq!(key("u80000000000t").as_deref(), Some("U80000000000T"));
    }
}

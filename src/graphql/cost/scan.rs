//! The look a document gets before it is parsed: its size, its token count
//! and how deeply its brackets nest, each with a ceiling.
//!
//! Parsing and validating cost time and memory in proportion to what is
//! sent (a million `__typename` aliases grew the server by 575 MB before
//! they were refused). This scan reads the text once, allocates nothing and
//! stops at the first ceiling passed, so a hostile document costs at most
//! [`MAX_DOCUMENT_BYTES`] of reading.

/// The largest document, in bytes (32 KiB: the contract's longest sensible
/// operation is a few KiB).
pub const MAX_DOCUMENT_BYTES: usize = 32 * 1024;
/// The most lexical tokens (names, punctuation, numbers, strings) a
/// document may hold.
pub const MAX_TOKENS: usize = 5_000;
/// The deepest nesting of `{`, `(` and `[` a document may hold; the
/// parser recurses once per level.
pub const MAX_NESTING: usize = 64;

/// Why a document was refused before parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TooLarge {
    #[error("the document is {0} bytes; at most {MAX_DOCUMENT_BYTES} are accepted")]
    Bytes(usize),
    #[error("the document holds more than {MAX_TOKENS} tokens")]
    Tokens,
    #[error("the document nests brackets more than {MAX_NESTING} deep")]
    Nesting,
}

/// Checks `document` against the ceilings without parsing it.
pub fn scan(document: &str) -> Result<(), TooLarge> {
    if document.len() > MAX_DOCUMENT_BYTES {
        return Err(TooLarge::Bytes(document.len()));
    }
    let bytes = document.as_bytes();
    let (mut at, mut tokens, mut depth) = (0usize, 0usize, 0usize);
    while at < bytes.len() {
        let byte = bytes[at];
        match byte {
            // Insignificant: white space, line terminators, commas (GraphQL
            // counts commas as white space) and the BOM's bytes.
            b' ' | b'\t' | b'\n' | b'\r' | b',' | 0xEF | 0xBB | 0xBF => {
                at += 1;
                continue;
            }
            b'#' => {
                at = skip_comment(bytes, at);
                continue;
            }
            b'{' | b'(' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(TooLarge::Nesting);
                }
                at += 1;
            }
            b'}' | b')' | b']' => {
                depth = depth.saturating_sub(1);
                at += 1;
            }
            b'"' => at = skip_string(bytes, at),
            b'.' if bytes[at..].starts_with(b"...") => at += 3,
            b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' => {
                at += 1;
                while at < bytes.len() && is_word_byte(bytes[at]) {
                    at += 1;
                }
            }
            // Any other punctuator, or a byte the parser will refuse.
            _ => at += 1,
        }
        tokens += 1;
        if tokens > MAX_TOKENS {
            return Err(TooLarge::Tokens);
        }
    }
    Ok(())
}

/// Names and numbers (with their signs, points and exponents) are one
/// token each.
fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'+' | b'-')
}

fn skip_comment(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() && bytes[at] != b'\n' && bytes[at] != b'\r' {
        at += 1;
    }
    at
}

/// Past a string or block string starting at `at` (an unterminated one runs
/// to the end: the parser refuses it).
fn skip_string(bytes: &[u8], at: usize) -> usize {
    if bytes[at..].starts_with(b"\"\"\"") {
        let mut i = at + 3;
        while i < bytes.len() {
            if bytes[i..].starts_with(b"\\\"\"\"") {
                i += 4;
            } else if bytes[i..].starts_with(b"\"\"\"") {
                return i + 3;
            } else {
                i += 1;
            }
        }
        return bytes.len();
    }
    let mut i = at + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_documents_pass() {
        let query = r#"query Q($f: Int = 10) { viewer { role } # a comment { { {
            schools(first: $f) { nodes { name students(filter: {search: "a \" { b"}) { totalCount } } }
            s: school(id: """ block { " """) { id } }"#;
        assert_eq!(scan(query), Ok(()));
    }

    #[test]
    fn each_ceiling_refuses() {
        assert_eq!(scan(&" ".repeat(MAX_DOCUMENT_BYTES + 1)), Err(TooLarge::Bytes(MAX_DOCUMENT_BYTES + 1)));
        let aliases = format!("{{ {} }}", "a:__typename ".repeat(2_000));
        assert_eq!(scan(&aliases), Err(TooLarge::Tokens));
        let deep = format!("{}{}", "{a".repeat(MAX_NESTING + 1), "}".repeat(MAX_NESTING + 1));
        assert_eq!(scan(&deep), Err(TooLarge::Nesting));
        let list = format!("{{ a(x: {}) }}", "[".repeat(100));
        assert_eq!(scan(&list), Err(TooLarge::Nesting));
        let exactly = format!("{}{}", "{a".repeat(MAX_NESTING), "}".repeat(MAX_NESTING));
        assert_eq!(scan(&exactly), Ok(()));
    }

    #[test]
    fn brackets_inside_strings_and_comments_do_not_count() {
        let inside = format!("{{ a(x: \"{}\") }} # {}", "{".repeat(200), "[".repeat(200));
        assert_eq!(scan(&inside), Ok(()));
    }
}

//! The token type. Wonde tokens open a school's pupil data, so the type
//! makes leaking one take a deliberate call to [`SecretToken::expose_secret`].

use reqwest::header::HeaderValue;

use super::WondeError;

/// A Wonde API token (per school, or the app's own). Debug and Display print
/// `[redacted]`; there is no Serialize and no PartialEq (compare stored
/// tokens in constant time elsewhere if ever needed).
#[derive(Clone)]
pub struct SecretToken(String);

impl SecretToken {
    pub fn new(token: impl Into<String>) -> Self {
        SecretToken(token.into())
    }

    /// The raw token, for storing it encrypted. Named so call sites stand out.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// `Bearer <token>`, marked sensitive so HTTP-level debug logging hides it.
    pub(crate) fn bearer(&self) -> Result<HeaderValue, WondeError> {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.0))
            .map_err(|_| WondeError::Config("the token holds characters not allowed in a header".into()))?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl From<String> for SecretToken {
    fn from(token: String) -> Self {
        SecretToken(token)
    }
}

crate::crypto::redacted!(SecretToken, "SecretToken([redacted])");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let t = SecretToken::new("sch_very_secret");
        assert_eq!(format!("{t}"), "[redacted]");
        assert!(!format!("{t:?}").contains("very_secret"));
        assert_eq!(t.expose_secret(), "sch_very_secret");
    }

    #[test]
    fn header_is_sensitive() -> Result<(), WondeError> {
        let h = SecretToken::new("abc").bearer()?;
        assert!(h.is_sensitive());
        assert!(SecretToken::new("a\nb").bearer().is_err());
        Ok(())
    }
}

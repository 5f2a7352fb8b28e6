//! Encryption at rest of the Wonde tokens we hold (ChaCha20-Poly1305).
//!
//! The key comes from `ONROLL_SECRET_KEY`. With SQLite and no key set, one is
//! generated into a file beside the database (mode 0600), so the embedded
//! default needs no set-up; with PostgreSQL the key is required, because
//! replicas must share it and a generated one would be lost with the host.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::path::PathBuf;

use crate::db::Engine;

const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("ONROLL_SECRET_KEY must be 32 bytes, as base64 or 64 hex digits")]
    BadKey,
    #[error("ONROLL_SECRET_KEY is required with PostgreSQL (replicas must share one key)")]
    KeyRequired,
    #[error("could not read or write the key file {path}: {source}")]
    KeyFile { path: PathBuf, source: std::io::Error },
    #[error("a stored secret could not be decrypted (was ONROLL_SECRET_KEY changed?)")]
    Decrypt,
}

/// Implements `Debug` (as `$debug`) and `Display` (as `[redacted]`) for a
/// type that holds a secret, so that no way of printing it (a log field, an
/// error's `{}` or `{:?}`) can show the secret.
macro_rules! redacted {
    ($type:ty, $debug:literal) => {
        impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($debug)
            }
        }

        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("[redacted]")
            }
        }
    };
}
pub(crate) use redacted;

/// The key that seals stored secrets. Its Debug output hides the key.
#[derive(Clone)]
pub struct SecretKey(Key);

redacted!(SecretKey, "SecretKey([redacted])");

impl SecretKey {
    /// Parses a key given as base64 (standard alphabet) or 64 hex digits.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| CryptoError::BadKey)?
        } else {
            STANDARD.decode(text).map_err(|_| CryptoError::BadKey)?
        };
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(Self(key.into()))
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        Self(ChaCha20Poly1305::generate_key(&mut OsRng))
    }

    /// The key for a deployment: the configured one, else (SQLite only) the
    /// one in the file beside the database, created on first use.
    pub fn resolve(configured: Option<&str>, database_url: &str) -> Result<Self, CryptoError> {
        if let Some(text) = configured {
            return Self::parse(text);
        }
        match Engine::of(database_url) {
            Some(Engine::Sqlite) => match sqlite_key_path(database_url) {
                Some(path) => Self::load_or_create(path),
                // An in-memory database loses its rows at exit; so may its key.
                None => Ok(Self::generate()),
            },
            _ => Err(CryptoError::KeyRequired),
        }
    }

    fn load_or_create(path: PathBuf) -> Result<Self, CryptoError> {
        let io = |source| CryptoError::KeyFile { path: path.clone(), source };
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                write_private(&path, &STANDARD.encode(key.0)).map_err(io)?;
                Ok(key)
            }
            Err(err) => Err(io(err)),
        }
    }

    /// Seals `plaintext`; the result is base64 of nonce and ciphertext.
    pub fn encrypt(&self, plaintext: &str) -> String {
        let cipher = ChaCha20Poly1305::new(&self.0);
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption of an in-memory buffer cannot fail with this AEAD.
        let sealed = cipher.encrypt(&nonce, plaintext.as_bytes()).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        STANDARD.encode(out)
    }

    /// Opens what [`SecretKey::encrypt`] sealed.
    pub fn decrypt(&self, sealed: &str) -> Result<String, CryptoError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| CryptoError::Decrypt)?;
        if bytes.len() <= NONCE_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let cipher = ChaCha20Poly1305::new(&self.0);
        let plain = cipher.decrypt(Nonce::from_slice(nonce), body).map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Decrypt)
    }
}

/// A secret string (a shared secret, a token): shown as `[redacted]` by
/// Debug and Display, compared in constant time.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send or seal it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Equality that takes the same time wherever the first difference is.
    pub fn matches(&self, candidate: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }
}

redacted!(Secret, "[redacted]");

/// `sqlite://onroll.db?mode=rwc` keeps its key in `onroll.db.key`.
fn sqlite_key_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let file = rest.split('?').next().unwrap_or_default();
    if file.is_empty() || file == ":memory:" || rest.contains("mode=memory") {
        return None;
    }
    Some(PathBuf::from(format!("{file}.key")))
}

fn write_private(path: &PathBuf, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() -> Result<(), CryptoError> {
        let key = SecretKey::generate();
        let sealed = key.encrypt("wonde-token-123");
        assert!(!sealed.contains("wonde-token-123"));
        assert_eq!(key.decrypt(&sealed)?, "wonde-token-123");
        let other = SecretKey::generate();
        assert!(matches!(other.decrypt(&sealed), Err(CryptoError::Decrypt)));
        assert!(matches!(key.decrypt("bm9wZQ=="), Err(CryptoError::Decrypt)));
        Ok(())
    }

    #[test]
    fn parses_hex_and_base64_and_rejects_short_keys() {
        assert!(SecretKey::parse(&"ab".repeat(32)).is_ok());
        assert!(SecretKey::parse(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(matches!(SecretKey::parse("c2hvcnQ="), Err(CryptoError::BadKey)));
        assert!(format!("{:?}", SecretKey::generate()).contains("redacted"));
    }

    #[test]
    fn secrets_hide_and_compare() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret} {secret:?}"), "[redacted] [redacted]");
        assert!(secret.matches("hunter2"));
        assert!(!secret.matches("hunter3"));
        assert!(!secret.matches(""));
    }

    #[test]
    fn postgres_needs_a_configured_key() {
        assert!(matches!(SecretKey::resolve(None, "postgres://localhost/x"), Err(CryptoError::KeyRequired)));
        assert_eq!(
            sqlite_key_path("sqlite://data/onroll.db?mode=rwc"),
            Some(PathBuf::from("data/onroll.db.key"))
        );
        assert_eq!(sqlite_key_path("sqlite::memory:"), None);
    }
}

//! Standard Webhooks 1.0 signatures: a secret is `whsec_` and the base64
//! of 32 random bytes; `webhook-signature` is `v1,` and the base64 of
//! HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}"), where the
//! key is the secret's bytes. During the day after a rotation the header
//! carries two signatures, space-separated: the new secret's, then the
//! old one's, so receivers that still hold either verify.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};

/// The prefix of every secret, as Standard Webhooks libraries expect.
pub const SECRET_PREFIX: &str = "whsec_";

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// A stored secret is not `whsec_` + base64 (never shows the secret).
    #[error("a webhook secret is malformed")]
    MalformedSecret,
}

/// A fresh secret: `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The signing key of a secret: its base64 part, decoded.
fn key_of(secret: &str) -> Result<Vec<u8>, SigningError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).ok_or(SigningError::MalformedSecret)?;
    STANDARD.decode(encoded).map_err(|_| SigningError::MalformedSecret)
}

/// One `v1,<base64>` signature of a message.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, SigningError> {
    let key = key_of(secret)?;
    let mut mac = Hmac::<sha2_11::Sha256>::new_from_slice(&key).map_err(|_| SigningError::MalformedSecret)?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// The `webhook-signature` header: one signature per secret, in order,
/// space-separated.
pub fn header(secrets: &[&str], id: &str, timestamp: i64, body: &str) -> Result<String, SigningError> {
    let signatures =
        secrets.iter().map(|secret| signature(secret, id, timestamp, body)).collect::<Result<Vec<_>, _>>()?;
    Ok(signatures.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn matches_the_specification_example() -> Result<(), SigningError> {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        let signed = signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)?;
        assert_eq!(signed, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        Ok(())
    }

    #[test]
    fn secrets_are_fresh_and_well_formed() -> Result<(), SigningError> {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(key_of(&a)?.len(), 32);
        assert!(matches!(key_of("nope"), Err(SigningError::MalformedSecret)));
        let two = header(&[&a, &b], "evt_1", 1, "{}")?;
        assert_eq!(two.split(' ').count(), 2);
        Ok(())
    }
}

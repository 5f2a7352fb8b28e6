//! `onroll token list|revoke`, and `token create`'s `--expires-in`. IDs in
//! messages are as the operator typed them.

use crate::cli_out::say;
use chrono::{DateTime, Utc};

use crate::cli::{open, parse_id};
use crate::config::DatabaseConfig;
use crate::graphql::ids::{NodeType, encode};
use crate::tenancy::{self, Revocation, TenancyError, TokenSummary};

/// Parses `--expires-in`: "45s", "90m", "12h", "30d". Zero, negative and
/// other units are refused with a message saying what is accepted.
pub(crate) fn parse_expires_in(text: &str) -> Result<chrono::Duration, String> {
    match crate::sync::schedule::parse_every(text) {
        Ok(Some(duration)) => Ok(duration),
        _ => Err(format!(
            "`{}` is not a duration: use a positive number with s, m, h or d (\"90m\", \"30d\"), \
             or leave --expires-in out for a token that works until revoked",
            text.trim()
        )),
    }
}

/// A time as the token table prints it: UTC, to the second.
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn or_dash(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "-".to_owned(), timestamp)
}

/// `active`, `revoked` or `expired`, as the server would judge it now.
fn status(token: &TokenSummary, now: DateTime<Utc>) -> &'static str {
    match crate::auth::Ended::of(token.revoked_at, token.expires_at, now) {
        None => "active",
        Some(crate::auth::Ended::Revoked) => "revoked",
        Some(crate::auth::Ended::Expired) => "expired",
    }
}

/// `onroll token list [--trust ID]`: one line per token (its scopes
/// included), oldest first, then a count. Trusts and schools appear as the API's IDs (what `--trust` and
/// `--school` take); `all` is a token for the whole trust.
pub(crate) async fn list(database: &DatabaseConfig, trust: Option<&str>) -> anyhow::Result<()> {
    let trust_id = trust.map(|text| parse_id(text, NodeType::Trust)).transpose()?;
    let db = open(database).await?;
    let tokens = match tenancy::list_tokens(&db, trust_id).await {
        Err(TenancyError::UnknownTrust(_)) => {
            anyhow::bail!("no trust `{}`", trust.unwrap_or_default())
        }
        other => other?,
    };
    let now = Utc::now();
    say!(
        "{:>6}  {:<12} {:<18} {:<8} {:<20} {:<20} {:<20} {:<20} {:<24} {:<16} label",
        "id",
        "role",
        "trust",
        "status",
        "created",
        "last used",
        "expires",
        "revoked",
        "schools",
        "scopes"
    );
    for token in &tokens {
        let schools = if token.school_ids.is_empty() {
            "all".to_owned()
        } else {
            token.school_ids.iter().map(|id| encode(NodeType::School, *id).0).collect::<Vec<_>>().join(",")
        };
        let line = format!(
            "{:>6}  {:<12} {:<18} {:<8} {:<20} {:<20} {:<20} {:<20} {:<24} {:<16} {}",
            token.id,
            token.role.as_str(),
            encode(NodeType::Trust, token.trust_id).0,
            status(token, now),
            timestamp(token.created_at),
            or_dash(token.last_used_at),
            or_dash(token.expires_at),
            or_dash(token.revoked_at),
            schools,
            if token.scopes.is_empty() { "-".to_owned() } else { token.scopes.join(",") },
            token.label.as_deref().unwrap_or("")
        );
        say!("{}", line.trim_end());
    }
    match tokens.len() {
        1 => say!("1 token"),
        n => say!("{n} tokens"),
    }
    Ok(())
}

/// `onroll token revoke ID`: revokes it (again is fine: it says when it was).
pub(crate) async fn revoke(database: &DatabaseConfig, text: &str) -> anyhow::Result<()> {
    let id: i32 = text.trim().parse().map_err(|_| {
        anyhow::anyhow!("`{text}` is not a token id: give the number `onroll token list` prints")
    })?;
    let db = open(database).await?;
    match tenancy::revoke_token(&db, id).await {
        Ok(Revocation::Revoked(at)) => {
            say!("token {text} revoked at {}; its open sockets close within a second", timestamp(at))
        }
        Ok(Revocation::AlreadyRevoked(at)) => {
            say!("token {text} was already revoked, at {}", timestamp(at))
        }
        Err(TenancyError::UnknownToken(_)) => anyhow::bail!("no token with id `{text}`"),
        Err(err) => return Err(err.into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_parse() {
        assert_eq!(parse_expires_in("30d"), Ok(chrono::Duration::days(30)));
        assert_eq!(parse_expires_in(" 90m "), Ok(chrono::Duration::minutes(90)));
        for bad in ["0", "", "30", "-1d", "2w", "1.5h"] {
            let err = parse_expires_in(bad).err().unwrap_or_default();
            assert!(err.contains("s, m, h or d"), "{bad}: {err}");
        }
    }
}

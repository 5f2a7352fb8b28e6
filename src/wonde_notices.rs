//! Acting on Wonde's notices (the `POST /webhooks/wonde` payloads) only
//! when they are believable (issue 13).
//!
//! Wonde signs nothing: the shared secret in the URL proves only that the
//! sender knows the URL. So, beyond it:
//! - a `schoolApproved` is believed only once Wonde itself accepts the
//!   token it carries (`GET /schools/{id}` with that token, wonde-api.md
//!   §6), so a forged approval, or one carrying another school's token,
//!   stores nothing;
//! - an approval for a school an admin disconnected changes nothing (the
//!   admin's decision stands until an access request is made again), nor
//!   one for a school whose held token still works;
//! - an `accessRevoked` for a school whose held token Wonde still accepts
//!   is not believed (a forged revocation would stop a school's syncs);
//! - a delivery equal to the last one recorded for its school is a repeat
//!   (a replay, or Wonde retrying) and changes nothing.
//!
//! Wonde is asked before any transaction opens. Inside one, the delivery
//! and catalog rows are written before the connection's change, whose event
//! is appended last (see `events::log`).

use chrono::Utc;
use entity::enums::{ConnectionStatus, SyncKind};
use entity::{webhook_delivery, wonde_connection};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};

use crate::connections;
use crate::crypto::{Secret, SecretKey};
use crate::sync::runs;
use crate::wonde::{SchoolAccess, SecretToken, WondeClient, WondeError};

/// A notice Onroll acts on, read from its payload.
#[derive(Debug)]
pub enum Notice {
    /// Access approved, with the school's token (never logged: `Secret`).
    Approved {
        token: Secret,
    },
    Revoked {
        reason: Option<String>,
    },
    Declined {
        reason: Option<String>,
    },
    /// The school's MIS changed: anything may have.
    Migration,
}

/// What became of a notice.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Applied; the text says what it did.
    Applied(&'static str),
    /// Authentic but changing nothing, for the reason given.
    Ignored(&'static str),
    /// The same delivery as the school's last: nothing changed.
    Repeated,
    /// Not believed: Wonde does not accept the token it carries.
    Refused(&'static str),
    /// Wonde could not be asked; nothing changed, the sender should retry.
    Unverified,
}

/// What handling a notice needs.
pub struct Notices<'a> {
    pub db: &'a DatabaseConnection,
    pub wonde: &'a WondeClient,
    pub key: &'a SecretKey,
}

/// The digest a delivery is recognised by: SHA-256 of its body, hex.
pub fn digest(body: &[u8]) -> String {
    Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect()
}

/// What Wonde's answer about a token means here.
enum TokenCheck {
    Works,
    Refused,
    Unknown,
}

impl Notices<'_> {
    /// Acts on `notice` for the Wonde school `wonde_id`, delivered with
    /// `digest`. `Ok(Ignored)` for a school we never connected nor asked
    /// for. `Err` only when the database fails.
    pub async fn handle(&self, wonde_id: &str, digest: &str, notice: Notice) -> Result<Outcome, DbErr> {
        let Some(connection) = connections::by_wonde_id(self.db, wonde_id).await? else {
            return Ok(Outcome::Ignored("no school here has that Wonde id"));
        };
        if is_repeat(self.db, &connection, digest).await? {
            return Ok(Outcome::Repeated);
        }
        match notice {
            Notice::Approved { token } => self.approved(connection, wonde_id, digest, token).await,
            Notice::Revoked { reason } => {
                self.status(connection, wonde_id, digest, ConnectionStatus::Revoked, reason).await
            }
            Notice::Declined { reason } => {
                self.status(connection, wonde_id, digest, ConnectionStatus::Declined, reason).await
            }
            Notice::Migration => self.migration(connection, wonde_id, digest).await,
        }
    }

    async fn approved(
        &self,
        connection: wonde_connection::Model,
        wonde_id: &str,
        digest: &str,
        token: Secret,
    ) -> Result<Outcome, DbErr> {
        match connection.status {
            ConnectionStatus::Disconnected => {
                let why = "an admin disconnected this school; request access again to reconnect it";
                return self.record_only(wonde_id, digest, "schoolApproved", why).await;
            }
            ConnectionStatus::Approved => {
                if let Some(sealed) = &connection.token_ciphertext {
                    match self.held_token_works(&connection, sealed).await {
                        TokenCheck::Works => {
                            let why = "the school's token held here still works; nothing to replace";
                            return self.record_only(wonde_id, digest, "schoolApproved", why).await;
                        }
                        TokenCheck::Unknown => return Ok(Outcome::Unverified),
                        TokenCheck::Refused => {}
                    }
                }
            }
            _ => {}
        }
        let access = SchoolAccess {
            school_id: wonde_id.to_owned(),
            token: SecretToken::new(token.expose()),
            region_domain: connection.region_domain.clone(),
        };
        match check(self.wonde.school(&access).await) {
            TokenCheck::Works => {}
            TokenCheck::Refused => {
                tracing::warn!(
                    webhook.kind = "schoolApproved",
                    "an approval whose token Wonde refuses; ignored"
                );
                return Ok(Outcome::Refused("Wonde does not accept the token this approval carries"));
            }
            TokenCheck::Unknown => return Ok(Outcome::Unverified),
        }
        let txn = crate::db::begin_write(self.db).await?;
        // Wonde was asked outside the transaction: what was judged must
        // still hold (an admin may have disconnected the school meanwhile).
        let Some(current) = connections::by_wonde_id(&txn, wonde_id).await? else {
            return Ok(Outcome::Ignored("no school here has that Wonde id"));
        };
        if (current.status, &current.token_ciphertext) != (connection.status, &connection.token_ciphertext) {
            return Ok(Outcome::Ignored("the school's connection changed meanwhile; nothing stored"));
        }
        let connection = current;
        record(&txn, wonde_id, digest, "schoolApproved", "APPLIED").await?;
        // The catalog first: the connection's change appends an event,
        // which comes last in a transaction (see `events::log`).
        crate::catalog::set_access_status(&txn, wonde_id, ConnectionStatus::Approved).await?;
        let (_, run) = connections::approve(&txn, connection, &token, self.key).await?;
        txn.commit().await?;
        Ok(Outcome::Applied(if run.is_some() {
            "approved; the first full sync is queued"
        } else {
            "token updated"
        }))
    }

    async fn status(
        &self,
        connection: wonde_connection::Model,
        wonde_id: &str,
        digest: &str,
        status: ConnectionStatus,
        reason: Option<String>,
    ) -> Result<Outcome, DbErr> {
        let kind = if status == ConnectionStatus::Revoked { "accessRevoked" } else { "accessDeclined" };
        if status == ConnectionStatus::Revoked
            && let Some(sealed) = &connection.token_ciphertext
        {
            match self.held_token_works(&connection, sealed).await {
                TokenCheck::Works => {
                    tracing::warn!(
                        webhook.kind = kind,
                        "a revocation while Wonde accepts the token; ignored"
                    );
                    return Ok(Outcome::Refused(
                        "Wonde still accepts the school's token: access is not revoked",
                    ));
                }
                TokenCheck::Unknown => return Ok(Outcome::Unverified),
                TokenCheck::Refused => {}
            }
        }
        let txn = crate::db::begin_write(self.db).await?;
        let Some(connection) = connections::by_wonde_id(&txn, wonde_id).await? else {
            return Ok(Outcome::Ignored("no school here has that Wonde id"));
        };
        record(&txn, wonde_id, digest, kind, "APPLIED").await?;
        crate::catalog::set_access_status(&txn, wonde_id, status).await?;
        connections::set_status(&txn, connection, status, reason).await?;
        txn.commit().await?;
        Ok(Outcome::Applied("recorded; scheduled syncs stop and nobody is deactivated"))
    }

    async fn migration(
        &self,
        connection: wonde_connection::Model,
        wonde_id: &str,
        digest: &str,
    ) -> Result<Outcome, DbErr> {
        if connection.status != ConnectionStatus::Approved {
            return Ok(Outcome::Ignored("the school is not approved; nothing to sync"));
        }
        let txn = crate::db::begin_write(self.db).await?;
        record(&txn, wonde_id, digest, "schoolMigration", "APPLIED").await?;
        // A finished MIS migration may have changed anything: look now.
        runs::enqueue(&txn, connection.school_id, SyncKind::Webhook, false).await?;
        txn.commit().await?;
        Ok(Outcome::Applied("a sync is queued"))
    }

    /// Records an authentic delivery that changes nothing, so that its
    /// repeats are recognised too.
    async fn record_only(
        &self,
        wonde_id: &str,
        digest: &str,
        kind: &str,
        why: &'static str,
    ) -> Result<Outcome, DbErr> {
        record(self.db, wonde_id, digest, kind, "IGNORED").await?;
        Ok(Outcome::Ignored(why))
    }

    async fn held_token_works(&self, connection: &wonde_connection::Model, sealed: &str) -> TokenCheck {
        let Ok(held) = self.key.decrypt(sealed) else { return TokenCheck::Refused };
        let access = SchoolAccess {
            school_id: connection.wonde_school_id.clone(),
            token: SecretToken::new(held),
            region_domain: connection.region_domain.clone(),
        };
        check(self.wonde.school(&access).await)
    }
}

fn check<T>(answer: Result<T, WondeError>) -> TokenCheck {
    match answer {
        Ok(_) => TokenCheck::Works,
        Err(WondeError::Unauthorized { .. } | WondeError::Forbidden { .. } | WondeError::NotFound { .. }) => {
            TokenCheck::Refused
        }
        Err(_) => TokenCheck::Unknown,
    }
}

/// How long after a delivery its own change of the connection may be
/// stamped (the two are written in one transaction, a moment apart).
const OWN_CHANGE: chrono::TimeDelta = chrono::TimeDelta::seconds(2);

/// Whether `digest` repeats the school's last delivery, with nothing else
/// having changed the connection since (an admin's disconnection and a new
/// request make the same approval body meaningful again).
async fn is_repeat<C: ConnectionTrait>(
    db: &C,
    connection: &wonde_connection::Model,
    digest: &str,
) -> Result<bool, DbErr> {
    let last = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::WondeSchoolId.eq(connection.wonde_school_id.as_str()))
        .order_by_desc(webhook_delivery::Column::Id)
        .one(db)
        .await?;
    Ok(last
        .is_some_and(|last| last.digest == digest && connection.updated_at <= last.received_at + OWN_CHANGE))
}

async fn record<C: ConnectionTrait>(
    db: &C,
    wonde_id: &str,
    digest: &str,
    kind: &str,
    outcome: &str,
) -> Result<(), DbErr> {
    webhook_delivery::ActiveModel {
        digest: Set(digest.to_owned()),
        payload_type: Set(kind.to_owned()),
        wonde_school_id: Set(Some(wonde_id.to_owned())),
        outcome: Set(outcome.to_owned()),
        received_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

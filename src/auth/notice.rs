//! Telling every server that a token was revoked (PostgreSQL), so each
//! empties its [`TokenCache`] entry at once.
//!
//! `revoke_token` sends the token's id on a channel of the schema
//! ([`CHANNEL_QUERY`]) in the revoking transaction, so PostgreSQL delivers
//! it at commit; every server listens on a connection of its own, as the
//! event feed does (`crate::events::feed`). A listener whose connection
//! dropped may have missed notices: it empties the whole cache when it is
//! back. On SQLite nothing is sent: the revocation watch reads the cached
//! tokens instead (`super::revocation`).

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use tokio::task::JoinHandle;

use super::cache::TokenCache;

/// The channel's name: one per schema, so servers of different databases
/// on one PostgreSQL cluster (tests) do not hear each other.
pub const CHANNEL_QUERY: &str = "SELECT 'onroll_tokens_' || substr(md5(current_schema()), 1, 16)";

/// How long a failed listener waits before trying again.
const RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Sends token `token_id`'s revocation on `db` (in the caller's
/// transaction, it is delivered at commit). Nothing on SQLite.
pub async fn announce<C: ConnectionTrait>(db: &C, token_id: i32) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let notify = Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!("SELECT pg_notify(({CHANNEL_QUERY}), $1)"),
        [token_id.to_string().into()],
    );
    db.execute_raw(notify).await?;
    Ok(())
}

/// The running listener; dropping it stops it.
pub struct Listener {
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts emptying `cache` at every revocation notice on `db`'s schema;
/// `None` on SQLite.
pub async fn listen(db: &DatabaseConnection, cache: TokenCache) -> Result<Option<Listener>, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(None);
    }
    let channel: String = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, CHANNEL_QUERY))
        .await?
        .ok_or_else(|| DbErr::Custom("no channel name".to_owned()))?
        .try_get_by_index(0)?;
    let cannot = |err: sea_orm::sqlx::Error| DbErr::Custom(format!("cannot listen for revocations: {err}"));
    let mut listener = PgListener::connect_with(db.get_postgres_connection_pool()).await.map_err(cannot)?;
    listener.listen(&channel).await.map_err(cannot)?;
    Ok(Some(Listener { task: tokio::spawn(forget_on_notice(listener, cache)) }))
}

async fn forget_on_notice(mut listener: PgListener, cache: TokenCache) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notice)) => match notice.payload().parse::<i32>() {
                Ok(token_id) => cache.forget_token(token_id),
                Err(_) => cache.clear(),
            },
            Ok(None) => {
                tracing::warn!("the revocation listener's connection dropped; reconnecting");
                cache.clear();
            }
            Err(err) => {
                tracing::warn!(error = %err, "the revocation listener failed; retrying");
                cache.clear();
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

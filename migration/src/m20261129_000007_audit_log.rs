//! The audit log: who changed what, where, when and how it ended
//! (refusals included). Append-only: the database itself refuses UPDATE and
//! DELETE on it (a trigger on each engine), so not even a bug in Onroll can
//! rewrite history.

use crate::columns::{index, with_id};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

crate::frame::migration!(up, down);

const PG_GUARD: &str = r"
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
";

const SQLITE_GUARD: [&str; 2] = [
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log \
     BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log \
     BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
];

async fn up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let audit_log = with_id("audit_log")
        .col(timestamp_with_time_zone("occurred_at"))
        // The trust the action concerns; NULL for what precedes
        // any trust (an unknown token, `trust create` refused).
        .col(integer_null("trust_id"))
        // TOKEN or CLI.
        .col(string_len("actor_kind", 16))
        .col(integer_null("actor_token_id"))
        .col(string_len_null("actor_role", 32))
        // The mutation's or command's name, e.g. `triggerSync`,
        // `token create`.
        .col(string_len("action", 64))
        .col(integer_null("school_id"))
        // OK, or the refusal's code (FORBIDDEN, NOT_FOUND...).
        .col(string_len("outcome", 64))
        // What else identifies the act (ids, counts); never a
        // secret or personal data.
        .col(string_len_null("detail", 500))
        .to_owned();
    manager.create_table(audit_log).await?;
    manager.create_index(index("audit_log", &["trust_id", "id"])).await?;
    let db = manager.get_connection();
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            db.execute_unprepared(PG_GUARD).await?;
        }
        _ => {
            for statement in SQLITE_GUARD {
                db.execute_unprepared(statement).await?;
            }
        }
    }
    Ok(())
}

async fn down(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager.drop_table(Table::drop().table("audit_log").to_owned()).await?;
    let db = manager.get_connection();
    if db.get_database_backend() == DatabaseBackend::Postgres {
        db.execute_unprepared("DROP FUNCTION IF EXISTS audit_log_append_only()").await?;
    }
    Ok(())
}

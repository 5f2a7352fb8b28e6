//! PostgreSQL's way of appending many events at once: one statement for a
//! run of rows, whatever their number, the rows travelling as one JSON
//! parameter that `json_to_recordset` unpacks. A school's first FULL run
//! logs a parent-group event per guardian and group (about 21 a pupil);
//! as multi-row `VALUES` of 16,000 parameters each, PostgreSQL parsed and
//! planned a dozen large statements for them, the largest share of the
//! run's time in SQL. Rows keep their order (`WITH ORDINALITY`), so their
//! ids do too.

use entity::event;
use sea_orm::{ActiveEnum, ActiveValue, ConnectionTrait, DbBackend, DbErr, EntityTrait, Statement};
use serde::Serialize;

/// One event row as the statement reads it; enums by their stored names.
#[derive(Serialize)]
struct Row<'a> {
    trust_id: i32,
    school_id: i32,
    kind: String,
    person_kind: Option<String>,
    person_id: Option<i32>,
    reason: Option<String>,
    sync_run_id: Option<i32>,
    payload: Option<&'a str>,
    /// RFC 3339 to the microsecond (cut, as sqlx binds a time), which
    /// `timestamptz` reads as it is.
    occurred_at: String,
}

const COLUMNS: &str =
    "trust_id, school_id, kind, person_kind, person_id, reason, sync_run_id, payload, occurred_at";
const RECORD: &str = "trust_id int4, school_id int4, kind text, person_kind text, person_id int4, \
                      reason text, sync_run_id int4, payload text, occurred_at timestamptz";

/// The value a row must carry.
fn required<'a, T>(value: &'a ActiveValue<T>, column: &str) -> Result<&'a T, DbErr>
where
    T: Into<sea_orm::Value>,
{
    value.try_as_ref().ok_or_else(|| DbErr::Custom(format!("an event row without its {column}")))
}

/// The value a row may leave out (NULL).
fn optional<T>(value: &ActiveValue<Option<T>>) -> Option<&T>
where
    Option<T>: Into<sea_orm::Value>,
{
    value.try_as_ref().and_then(Option::as_ref)
}

fn json_of(rows: &[event::ActiveModel]) -> Result<String, DbErr> {
    let rows = rows
        .iter()
        .map(|row| {
            Ok(Row {
                trust_id: *required(&row.trust_id, "trust_id")?,
                school_id: *required(&row.school_id, "school_id")?,
                kind: required(&row.kind, "kind")?.to_value(),
                person_kind: optional(&row.person_kind).map(ActiveEnum::to_value),
                person_id: optional(&row.person_id).copied(),
                reason: optional(&row.reason).map(ActiveEnum::to_value),
                sync_run_id: optional(&row.sync_run_id).copied(),
                payload: optional(&row.payload).map(String::as_str),
                occurred_at: required(&row.occurred_at, "occurred_at")?
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    serde_json::to_string(&rows).map_err(|err| DbErr::Custom(format!("event rows as JSON: {err}")))
}

/// `INSERT ... SELECT` of `rows` in order, answering `returning`.
fn statement(rows: &[event::ActiveModel], returning: &str) -> Result<Statement, DbErr> {
    let sql = format!(
        "INSERT INTO \"event\" ({COLUMNS}) SELECT {COLUMNS} FROM \
         ROWS FROM (json_to_recordset($1::json) AS ({RECORD})) WITH ORDINALITY AS r({COLUMNS}, n) \
         ORDER BY n RETURNING {returning}"
    );
    Ok(Statement::from_sql_and_values(DbBackend::Postgres, sql, [json_of(rows)?.into()]))
}

/// Inserts `rows` and answers their ids.
pub(super) async fn insert_ids<C: ConnectionTrait>(
    db: &C,
    rows: &[event::ActiveModel],
) -> Result<Vec<i64>, DbErr> {
    let answered = db.query_all_raw(statement(rows, "id")?).await?;
    answered.iter().map(|row| row.try_get_by_index::<i64>(0)).collect()
}

/// Inserts `rows` and answers them as stored.
pub(super) async fn insert_all<C: ConnectionTrait>(
    db: &C,
    rows: &[event::ActiveModel],
) -> Result<Vec<event::Model>, DbErr> {
    event::Entity::find().from_raw_sql(statement(rows, "*")?).all(db).await
}

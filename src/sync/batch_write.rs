//! Writing a run's rows in batches, so that a run issues statements per
//! table and batch, not per row (issue 15: row-by-row writes made a FULL
//! sync on PostgreSQL over TCP five times the client's paging floor).
//!
//! New rows go in multi-row `INSERT`s; changed rows in multi-row
//! `INSERT ... ON CONFLICT (id) DO UPDATE SET` of exactly the columns that
//! changed, which both engines run and which, for a row that exists, is
//! the `UPDATE` of those columns the row-by-row code issued. Rows that
//! changed the same columns share a statement. Statements are cut so that
//! rows × columns stays well below the engines' bound-parameter limits
//! (SQLite's 32,766 since 3.32, which the bundled SQLite is past;
//! PostgreSQL's 65,535).

use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, IdenStatic, Iterable,
    PrimaryKeyToColumn, QueryTrait,
};
use std::collections::BTreeMap;

/// Rows a run wrote, per table (inserted or updated), so that tables it
/// changed a lot can be analysed after it commits (`super::analyze`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written(BTreeMap<&'static str, u64>);

impl Written {
    /// Adds `rows` written to `E`'s table.
    pub(crate) fn note<E: EntityTrait>(&mut self, rows: u64) {
        if rows > 0 {
            *self.0.entry(E::default().table_name()).or_default() += rows;
        }
    }

    /// Adds the rows `other` wrote, table by table.
    pub(crate) fn absorb(&mut self, other: Written) {
        for (table, rows) in other.0 {
            *self.0.entry(table).or_default() += rows;
        }
    }

    /// Whether any row of `E`'s table was written.
    pub fn wrote<E: EntityTrait>(&self) -> bool {
        self.0.contains_key(E::default().table_name())
    }

    /// Tables and the rows written to each.
    pub fn tables(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.0.iter().map(|(table, rows)| (*table, *rows))
    }
}

/// Bound parameters one statement carries at most.
pub(crate) const MAX_PARAMS: usize = 16_000;

/// Rows of `columns` columns one statement carries at most.
pub(crate) fn rows_per_statement(columns: usize) -> usize {
    (MAX_PARAMS / columns.max(1)).max(1)
}

/// `rows` cut into statement-sized chunks of `columns` columns each.
fn chunks<T>(rows: Vec<T>, columns: usize) -> impl Iterator<Item = Vec<T>> {
    let size = rows_per_statement(columns);
    let mut rows = rows.into_iter().peekable();
    std::iter::from_fn(move || {
        rows.peek()?;
        Some(rows.by_ref().take(size).collect())
    })
}

fn column_count<E: EntityTrait>() -> usize {
    E::Column::iter().count()
}

/// Inserts new rows, as few statements as the parameter cap allows;
/// answers how many.
pub(crate) async fn insert_all<A, C>(db: &C, rows: Vec<A>) -> Result<u64, DbErr>
where
    A: ActiveModelTrait + Send,
    C: ConnectionTrait,
{
    let mut written = 0;
    for chunk in chunks(rows, column_count::<A::Entity>()) {
        written += A::Entity::insert_many(chunk).exec_without_returning(db).await?;
    }
    Ok(written)
}

/// The columns [`set_active`] writes of a membership or link table: the
/// row id, whether it is current, the moment it ended, and when it last
/// changed.
pub(crate) struct ActiveColumns<C> {
    pub id: C,
    pub active: C,
    pub ended_at: C,
    pub updated_at: C,
}

/// Ends (`active` false, `ended_at` now) or restarts (`ended_at` none)
/// the rows `ids` of a membership or link table, one `UPDATE` per chunk;
/// answers how many rows changed. A row deleted since it was read (a
/// retention purge on PostgreSQL) is simply not updated: an `UPDATE` never
/// brings a row back.
pub(crate) async fn set_active<E, C>(
    db: &C,
    columns: ActiveColumns<E::Column>,
    ids: &[i32],
    active: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, DbErr>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    use sea_orm::{ColumnTrait, QueryFilter};
    let ended_at = (!active).then_some(now);
    let mut written = 0;
    // Three more values bound: the new active, ended_at and updated_at.
    for chunk in ids.chunks(MAX_PARAMS - 3) {
        written += E::update_many()
            .col_expr(columns.active, Expr::value(active))
            .col_expr(columns.ended_at, Expr::value(ended_at))
            .col_expr(columns.updated_at, Expr::value(now))
            .filter(columns.id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?
            .rows_affected;
    }
    Ok(written)
}

/// Saves the changed columns (those `Set`) of rows read from their table:
/// rows that changed the same columns in one upsert by primary key per
/// chunk; rows with nothing changed are skipped. Every row must hold all
/// its columns (a model read, then changed), so the `INSERT` half is
/// whole; for an existing row only the `DO UPDATE` half applies. Answers
/// how many rows it saved.
pub(crate) async fn update_changed<A, C>(db: &C, rows: impl IntoIterator<Item = A>) -> Result<u64, DbErr>
where
    A: ActiveModelTrait + Send,
    C: ConnectionTrait,
{
    let keys: Vec<<A::Entity as EntityTrait>::Column> =
        <A::Entity as EntityTrait>::PrimaryKey::iter().map(|key| key.into_column()).collect();
    let is_key =
        |column: &<A::Entity as EntityTrait>::Column| keys.iter().any(|key| key.as_str() == column.as_str());
    // Which columns changed (by their place in the table), to the rows.
    let mut shapes: BTreeMap<Vec<usize>, Vec<A>> = BTreeMap::new();
    for row in rows {
        let changed: Vec<usize> = <A::Entity as EntityTrait>::Column::iter()
            .enumerate()
            .filter(|(_, column)| !is_key(column) && row.get(*column).is_set())
            .map(|(place, _)| place)
            .collect();
        if !changed.is_empty() {
            shapes.entry(changed).or_default().push(row);
        }
    }
    let mut written = 0;
    for (changed, rows) in shapes {
        let columns = <A::Entity as EntityTrait>::Column::iter()
            .enumerate()
            .filter(|(place, _)| changed.contains(place))
            .map(|(_, column)| column);
        let upsert = OnConflict::columns(keys.clone()).update_columns(columns).to_owned();
        for chunk in chunks(rows, column_count::<A::Entity>()) {
            let upserted = A::Entity::insert_many(chunk).on_conflict(upsert.clone());
            written += upsert_existing(db, upserted).await?;
        }
    }
    Ok(written)
}

/// Runs an upsert of rows that were read in this transaction, refusing
/// (`RecordNotUpdated`, as the row-by-row `UPDATE` did) when one of them
/// was inserted: on PostgreSQL another transaction (the retention purge,
/// an erasure) may have deleted it since it was read, and the `INSERT`
/// half would bring it back whole, personal data and all. The run then
/// rolls back and the next one reads the rows afresh. On SQLite the run's
/// write transaction excludes every other writer, so no row can go.
async fn upsert_existing<A, C>(db: &C, mut upserted: sea_orm::InsertMany<A>) -> Result<u64, DbErr>
where
    A: ActiveModelTrait + Send,
    C: ConnectionTrait,
{
    let backend = db.get_database_backend();
    if backend != DbBackend::Postgres {
        return upserted.exec_without_returning(db).await;
    }
    // `xmax` is 0 exactly for a row this statement inserted (an updated
    // row carries the updating transaction's id).
    upserted.query().returning(Query::returning().expr(Expr::cust("(xmax = 0)")));
    let rows = db.query_all_raw(backend.build(upserted.query())).await?;
    let mut inserted = false;
    for row in &rows {
        inserted |= row.try_get_by_index::<bool>(0)?;
    }
    if inserted {
        return Err(DbErr::RecordNotUpdated);
    }
    Ok(u64::try_from(rows.len()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_the_parameter_cap() {
        let rows: Vec<usize> = (0..40_001).collect();
        let cut: Vec<Vec<usize>> = chunks(rows, 8).collect();
        assert!(cut.iter().all(|c| c.len() * 8 <= MAX_PARAMS));
        assert_eq!(cut.iter().map(Vec::len).sum::<usize>(), 40_001);
        assert_eq!(cut.len(), 40_001usize.div_ceil(rows_per_statement(8)));
        assert_eq!(chunks(Vec::<u8>::new(), 3).count(), 0);
    }
}

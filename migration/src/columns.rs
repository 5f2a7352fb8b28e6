//! Builders for what many tables of the schema repeat: the primary key
//! `id` (generated, or fixed in one-row tables), the created/updated
//! timestamps, the integer column with its cascading foreign key to a
//! parent's `id`, the row of a one-row table, indexes named
//! `ix_`/`ux_<table>_<columns>`, and one-column alterations (SQLite alters
//! one column a statement). Each builds the very statement the migrations
//! used to spell out, so the schema they create is unchanged.

use sea_orm_migration::{prelude::*, schema::*};

/// Columns every table of people, groups and settings ends with.
pub(crate) trait Timestamps {
    /// Adds `created_at` and `updated_at`, timestamps with time zone, not null.
    fn timestamps(&mut self) -> &mut Self;
}

impl Timestamps for TableCreateStatement {
    fn timestamps(&mut self) -> &mut Self {
        self.col(timestamp_with_time_zone("created_at")).col(timestamp_with_time_zone("updated_at"))
    }
}

/// A column that points at a parent row.
pub(crate) trait References {
    /// Adds `column`, an integer, not null, and `fk_<table>_<column>`, its
    /// cascading foreign key to `parent.id` (`table` is this table's name).
    fn references(&mut self, table: &'static str, column: &'static str, parent: &'static str) -> &mut Self;
}

impl References for TableCreateStatement {
    fn references(&mut self, table: &'static str, column: &'static str, parent: &'static str) -> &mut Self {
        // Foreign keys are written after every column, in the order added,
        // so adding each with its column changes nothing in the SQL.
        self.col(integer(column)).foreign_key(&mut foreign_key(table, column, parent))
    }
}

/// A new table whose first column is `id`, an auto-increment integer
/// primary key.
pub(crate) fn with_id(table: &'static str) -> TableCreateStatement {
    Table::create().table(table).col(pk_auto("id")).to_owned()
}

/// A new table that holds one row (state claimed by one replica at a time):
/// its `id` is an integer primary key the migration inserts as 1, never
/// generated.
pub(crate) fn singleton(table: &'static str) -> TableCreateStatement {
    Table::create().table(table).col(integer("id").primary_key()).to_owned()
}

/// Inserts the one row of a [`singleton`] table: `id` 1, `column` set to
/// `value` (an SQL literal), the other columns null or their default.
pub(crate) async fn insert_singleton_row(
    manager: &SchemaManager<'_>,
    table: &str,
    column: &str,
    value: &str,
) -> Result<(), DbErr> {
    let insert = format!("INSERT INTO {table} (id, {column}) VALUES (1, {value})");
    manager.get_connection().execute_unprepared(&insert).await?;
    Ok(())
}

/// `fk_<table>_<column>`: `table.column` references `to.id`, and the row is
/// deleted with its parent.
pub(crate) fn foreign_key(
    table: &'static str,
    column: &'static str,
    to: &'static str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table, column)
        .to(to, "id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

/// `ix_<table>_<columns>`: an index on `columns`, in that order.
pub(crate) fn index(table: &'static str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(format!("ix_{table}_{}", columns.join("_"))).table(table);
    for column in columns {
        stmt.col(*column);
    }
    stmt.to_owned()
}

/// `ux_<table>_<columns>`: a unique index on `columns`, in that order.
pub(crate) fn unique(table: &'static str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut stmt = index(table, columns);
    stmt.name(format!("ux_{table}_{}", columns.join("_"))).unique();
    stmt
}

/// Adds one column to `table`.
pub(crate) fn add_column(table: &'static str, column: impl IntoColumnDef) -> TableAlterStatement {
    Table::alter().table(table).add_column(column).to_owned()
}

/// Drops one column of `table`.
pub(crate) fn drop_column(table: &'static str, column: &'static str) -> TableAlterStatement {
    Table::alter().table(table).drop_column(column).to_owned()
}

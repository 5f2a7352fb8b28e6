//! Builders for what many tables of the schema repeat: the primary key
//! `id` (generated, or fixed in one-row tables), the created/updated
//! timestamps, the cascading foreign key to a parent's `id`, indexes named
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

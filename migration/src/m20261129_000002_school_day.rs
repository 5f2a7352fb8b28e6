//! The school's own day and identity carried over: each school's (and
//! trust's) time zone, the date of its last daily sweep, staff employment
//! end dates (so an end date that passes takes effect without a record
//! change), and per-kind counts of accounts re-identified by a run.

use crate::columns::{add_column, drop_column};
use sea_orm_migration::{prelude::*, schema::*};

crate::frame::migration!(up, down);

const COLUMNS: &[(&str, &str)] = &[
    ("school", "timezone"),
    ("school", "swept_on"),
    ("trust", "timezone"),
    ("staff", "employment_end"),
    ("sync_run", "students_reidentified"),
    ("sync_run", "staff_reidentified"),
    ("sync_run", "guardians_reidentified"),
];

async fn up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    for &(table, column) in COLUMNS {
        let definition = match column {
            "timezone" => string_len_null(column, 64),
            "swept_on" | "employment_end" => string_len_null(column, 10),
            _ => integer(column).default(0).to_owned(),
        };
        manager.alter_table(add_column(table, definition)).await?;
    }
    Ok(())
}

async fn down(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    for &(table, column) in COLUMNS.iter().rev() {
        manager.alter_table(drop_column(table, column)).await?;
    }
    Ok(())
}

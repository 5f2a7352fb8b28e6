//! Drops the foreign key from `school_id` to `school` of the membership
//! and link tables (pupils and staff of classes, form and year groups;
//! guardians' links) on PostgreSQL. Each of those rows already hangs from
//! its group and its member, which hang from the school and are deleted
//! with it, so the key added nothing the other two do not keep: it only
//! proved that *some* school has that id. Yet PostgreSQL checks every key
//! row by row, in a trigger, and a school's first FULL run writes about
//! 14,000 such rows (issue 15: with `sync::analyze`'s deferral, the
//! `class_student` inserts of five schools' FULL runs took 0.70 s of
//! statement time against 1.39 s, `BENCH_PROFILE=1 cargo bench --bench
//! sync_full`). The `school_id` columns and their indexes stay: scoping
//! and a school's reads use them.
//!
//! SQLite cannot drop a constraint without rebuilding the table, and it
//! checks keys in-process at a fraction of the cost, so it keeps them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

crate::frame::migration!(up, down);

/// The tables whose rows carry their school beside their group and member.
const TABLES: [&str; 6] =
    ["class_student", "class_teacher", "year_student", "form_student", "form_tutor", "guardian_link"];

async fn up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    if manager.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    for table in TABLES {
        let key = ForeignKey::drop().name(format!("fk_{table}_school_id")).table(table).to_owned();
        manager.drop_foreign_key(key).await?;
    }
    Ok(())
}

async fn down(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    if manager.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    for table in TABLES {
        manager.create_foreign_key(crate::columns::foreign_key(table, "school_id", "school")).await?;
    }
    Ok(())
}

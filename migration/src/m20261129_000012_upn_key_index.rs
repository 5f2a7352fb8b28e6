//! An index on a pupil's UPN as families compare it (`UPPER(TRIM(upn))`),
//! so finding a child's records at other schools reads those records only,
//! not the trust's pupils (issue 15: families read what a request needs).
//! Expression indexes are the same SQL on SQLite and PostgreSQL.

use sea_orm_migration::prelude::*;

crate::frame::migration!(up, down);

async fn up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared("CREATE INDEX ix_student_upn_key ON student (UPPER(TRIM(upn)))")
        .await?;
    Ok(())
}

async fn down(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager.get_connection().execute_unprepared("DROP INDEX ix_student_upn_key").await?;
    Ok(())
}

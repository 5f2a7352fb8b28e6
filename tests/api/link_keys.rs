//! The membership and link tables keep their rows whole without a key
//! from `school_id` (issue 15: on PostgreSQL that key cost a third of a
//! FULL run's insert time and proved only that some school has the id).
//! A school's memberships and guardians' links still go with the school,
//! through their groups and members; on PostgreSQL the key is gone and
//! the group's and member's keys stay.

use entity::enums::SyncKind;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::on_both_engines;
use crate::support::Engine;
use crate::sync_wonde::World;

on_both_engines!(a_schools_memberships_and_links_go_with_it);

const TABLES: [&str; 6] =
    ["class_student", "class_teacher", "year_student", "form_student", "form_tutor", "guardian_link"];

/// Rows of `table` that name `school_id`.
async fn rows_of(world: &World, table: &str, school_id: i32) -> anyhow::Result<i64> {
    let backend = world.db().get_database_backend();
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE school_id = {school_id}");
    let row = world
        .db()
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no count of {table}"))?;
    Ok(row.try_get_by_index(0)?)
}

/// The foreign keys of `table` on PostgreSQL, as `column -> table`.
async fn keys_of(world: &World, table: &str) -> anyhow::Result<Vec<String>> {
    let sql = format!(
        "SELECT a.attname::text || ' -> ' || c.confrelid::regclass::text \
         FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
         WHERE c.contype = 'f' AND c.conrelid = to_regclass('{table}') ORDER BY 1"
    );
    let rows = world.db().query_all_raw(Statement::from_string(DbBackend::Postgres, sql)).await?;
    rows.iter().map(|row| Ok(row.try_get_by_index::<String>(0)?)).collect()
}

async fn a_schools_memberships_and_links_go_with_it(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 2, 30).await?;
    for index in 0..2 {
        world.sync(index, SyncKind::Full).await?;
    }
    let (gone, kept) = (world.schools[0].1.id, world.schools[1].1.id);
    for table in TABLES {
        assert!(rows_of(&world, table, gone).await? > 0, "the FULL run wrote no {table} row");
    }
    let backend = world.db().get_database_backend();
    world
        .db()
        .execute_raw(Statement::from_string(backend, format!("DELETE FROM school WHERE id = {gone}")))
        .await?;
    for table in TABLES {
        assert_eq!(rows_of(&world, table, gone).await?, 0, "{table} kept rows of a deleted school");
        assert!(rows_of(&world, table, kept).await? > 0, "{table} lost the other school's rows");
    }
    if backend == DbBackend::Postgres {
        for table in TABLES {
            let keys = keys_of(&world, table).await?;
            assert_eq!(keys.len(), 2, "{table}: {keys:?}");
            assert!(keys.iter().all(|key| !key.starts_with("school_id")), "{table}: {keys:?}");
        }
    }
    Ok(())
}

//! What the retention purge costs (issue 18). Not a test:
//! `cargo bench --bench retention`.
//!
//! A school of BENCH_PUPILS (default 4,000) pupils, each in a year, a form
//! and a class, with a mother of their own and a father shared with a
//! sibling (1.5 guardians a pupil: 10,000 accounts by default), all
//! deactivated 400 days ago; then one purge (`retention::purge_now`) erases
//! them all, their links and memberships. Baseline, measured in the same
//! run on a copy of the same data: one UPDATE touching every account row
//! (`updated_at`) in one transaction, the floor of any purge. SQLite, and
//! PostgreSQL too when ONROLL_BENCH_DATABASE_URL (or
//! ONROLL_TEST_DATABASE_URL) is set.

#[allow(dead_code)]
#[path = "../tests/api/support/big_year.rs"]
mod big_year;

mod support;

use chrono::{Duration, Utc};
use entity::enums::{AccountStatus, DeactivationReason};
use entity::{guardian, student};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use std::time::Instant;

/// A fresh database holding one school of `pupils` leavers and their
/// guardians, all deactivated 400 days ago; answers it and the accounts.
async fn leavers(engine: &str, tag: &str, pupils: usize) -> anyhow::Result<(DatabaseConnection, i32, u64)> {
    let (_, db) = support::migrated_database(engine, &format!("retention_{tag}")).await?;
    let now = Utc::now();
    let trust = onroll::tenancy::create_trust(&db, "Bench Trust").await?;
    let school = onroll::bench::support::bench_school(&db, trust.id).await?;
    big_year::populate(&db, school.id, "Year 11", "R", pupils).await?;
    let gone = Some(now - Duration::days(400));
    let students = student::Entity::update_many()
        .col_expr(student::Column::Status, Expr::value(AccountStatus::Deactivated.as_str()))
        .col_expr(student::Column::DeactivatedAt, Expr::value(gone))
        .col_expr(student::Column::DeactivationReason, Expr::value(DeactivationReason::LeftSchool.as_str()))
        .filter(student::Column::SchoolId.eq(school.id))
        .exec(&db)
        .await?
        .rows_affected;
    let guardians = guardian::Entity::update_many()
        .col_expr(guardian::Column::Status, Expr::value(AccountStatus::Deactivated.as_str()))
        .col_expr(guardian::Column::DeactivatedAt, Expr::value(gone))
        .col_expr(
            guardian::Column::DeactivationReason,
            Expr::value(DeactivationReason::NoActiveChildren.as_str()),
        )
        .filter(guardian::Column::SchoolId.eq(school.id))
        .exec(&db)
        .await?
        .rows_affected;
    Ok((db, school.id, students + guardians))
}

/// The floor: every account row touched once, in one transaction.
async fn baseline(db: &DatabaseConnection, school_id: i32) -> anyhow::Result<f64> {
    let started = Instant::now();
    let txn = onroll::db::begin_write(db).await?;
    let now = Utc::now();
    student::Entity::update_many()
        .col_expr(student::Column::UpdatedAt, Expr::value(now))
        .filter(student::Column::SchoolId.eq(school_id))
        .exec(&txn)
        .await?;
    guardian::Entity::update_many()
        .col_expr(guardian::Column::UpdatedAt, Expr::value(now))
        .filter(guardian::Column::SchoolId.eq(school_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

async fn row(engine: &str, pupils: usize) -> anyhow::Result<()> {
    let (db, school_id, accounts) = leavers(engine, "floor", pupils).await?;
    let floor_ms = baseline(&db, school_id).await?;
    let (db, _, _) = leavers(engine, "purge", pupils).await?;
    let started = Instant::now();
    let outcome = onroll::retention::purge_now(&db, Utc::now(), onroll::audit::Actor::Cli).await?;
    let purge_ms = started.elapsed().as_secs_f64() * 1000.0;
    let purged = match outcome {
        onroll::retention::PurgeOutcome::Done(p) => p,
        onroll::retention::PurgeOutcome::Busy => anyhow::bail!("the purge was busy"),
    };
    anyhow::ensure!(purged.accounts() == accounts, "purged {} of {accounts}", purged.accounts());
    println!(
        "{engine:<9} {accounts:>8} {:>7} {:>7} {purge_ms:>10.0} {:>12.0} {floor_ms:>10.0} {:>6.1}",
        purged.links,
        purged.memberships,
        accounts as f64 / (purge_ms / 1000.0),
        purge_ms / floor_ms
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let pupils = support::env_number("BENCH_PUPILS", 4_000);
    println!("retention purge: {pupils} pupils and their guardians, all deactivated 400 days ago");
    println!(
        "{:<9} {:>8} {:>7} {:>7} {:>10} {:>12} {:>10} {:>6}",
        "engine", "accounts", "links", "members", "purge ms", "accounts/s", "floor ms", "ratio"
    );
    for engine in support::engines() {
        row(engine, pupils).await?;
    }
    if support::postgres_url().is_none() {
        println!("postgres  skipped: set ONROLL_BENCH_DATABASE_URL or ONROLL_TEST_DATABASE_URL");
    }
    Ok(())
}

//! What real schools' MIS data does, over real HTTP against the simulator:
//! a school that changes MIS keeps everyone's identity; "today" is the
//! school's own date; a leaving date (or an employment end) that comes
//! takes effect without any change to the record.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use entity::enums::{AccountStatus, DeactivationReason, EventKind, PersonKind, SyncKind, SyncStatus};
use entity::{class_teacher, event, guardian_link, staff, sync_run};
use onroll::sync::schedule::Schedule;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};
use std::collections::BTreeMap;
use wonde_sim::{MisMigration, StaffLeave};

use crate::count_at;

/// Current rows of a membership table for one member.
macro_rules! count_active {
    ($db:expr, $table:ident, $member:ident, $id:expr) => {
        entity::$table::Entity::find()
            .filter(entity::$table::Column::$member.eq($id))
            .filter(entity::$table::Column::Active.eq(true))
            .count($db)
            .await?
    };
}
use crate::on_both_engines;
use crate::support::Engine;
use crate::sync_model::statuses as accounts;
use crate::sync_wonde::{World, student_by_wonde};

on_both_engines!(
    a_school_that_changes_mis_keeps_everyone,
    an_incremental_run_after_a_change_of_mis_keeps_everyone,
    the_school_day_decides_who_has_left,
    a_leaving_date_that_comes_takes_effect_without_a_change,
    the_daily_sweep_runs_at_the_start_of_the_school_day,
    a_staff_only_run_applies_without_reading_parent_groups,
    a_leaver_corrected_gets_every_class_back_in_the_next_incremental_run
);

/// A simulated trust of one school of 20 pupils after its first FULL run:
/// the world, the school's Wonde id and our school's id.
async fn synced_school(engine: &Engine) -> anyhow::Result<(World, String, i32)> {
    let world = World::start(engine, 1, 20).await?;
    let (sim_school, school) = (world.schools[0].0.clone(), world.schools[0].1.id);
    let first = world.sync(0, SyncKind::Full).await?;
    anyhow::ensure!(first.status == SyncStatus::Completed, "first: {:?}", first.error);
    Ok((world, sim_school, school))
}

/// The status-change events a run appended (not its progress).
async fn events_of(db: &DatabaseConnection, run: &sync_run::Model) -> anyhow::Result<Vec<event::Model>> {
    Ok(event::Entity::find()
        .filter(event::Column::SyncRunId.eq(run.id))
        .filter(event::Column::Kind.is_in([EventKind::Deactivated, EventKind::Reactivated]))
        .all(db)
        .await?)
}

/// Seen: a migrated school's first FULL run, forced as the guard advised,
/// deactivated every pupil and parent and created duplicates of each.
async fn a_school_that_changes_mis_keeps_everyone(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 1, 40).await?;
    let (sim_school, school) = (world.schools[0].0.clone(), world.schools[0].1.id);
    let first = world.sync(0, SyncKind::Full).await?;
    anyhow::ensure!(first.status == SyncStatus::Completed, "first: {:?}", first.error);
    let before = accounts(world.db(), school).await?;
    let active = |a: &BTreeMap<(u8, i32), AccountStatus>, kind: u8| {
        a.iter().filter(|((k, _), s)| *k == kind && **s == AccountStatus::Active).count()
    };
    let links_before = count_at!(world.db(), school, guardian_link, Active, true);

    // The new MIS gives everything new ids and new UPIs.
    world.sim.migrate_mis(&sim_school, MisMigration { new_upis: true })?;
    let run = world.sync(0, SyncKind::Full).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    let after = accounts(world.db(), school).await?;
    assert_eq!(after, before, "the same accounts, the same statuses: nobody new, nobody deactivated");
    let events = events_of(world.db(), &run).await?;
    assert!(events.is_empty(), "carrying identity over emits no event: {events:?}");
    assert_eq!(run.students_reidentified as usize, active(&before, 0));
    assert_eq!(run.staff_reidentified as usize, active(&before, 1));
    assert_eq!(run.guardians_reidentified as usize, active(&before, 2));
    assert_eq!((run.students_created, run.staff_created, run.guardians_created), (0, 0, 0), "no duplicates");
    assert_eq!((run.students_deactivated, run.staff_deactivated, run.guardians_deactivated), (0, 0, 0));
    // The accounts now answer to the new ids, with their links and groups.
    world.assert_mirrors(0).await?;
    let links_after = count_at!(world.db(), school, guardian_link, Active, true);
    assert_eq!(links_after, links_before);

    // A second migration keeping UPIs (the re-enrolment key) also holds,
    // and an incremental run after it changes nothing more.
    world.sim.migrate_mis(&sim_school, MisMigration { new_upis: false })?;
    let run = world.sync(0, SyncKind::Full).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    assert_eq!(accounts(world.db(), school).await?, before);
    assert!(events_of(world.db(), &run).await?.is_empty());
    world.assert_mirrors(0).await?;
    let quiet = world.sync(0, SyncKind::Incremental).await?;
    assert_eq!(
        (quiet.status, quiet.students_reidentified, quiet.students_updated),
        (SyncStatus::Completed, 0, 0)
    );
    Ok(())
}

/// Trial: a school changed MIS and the next run was the schedule's
/// INCREMENTAL one (Wonde sent no `schoolMigration` notice). It created a
/// duplicate of every pupil, parent, member of staff and group (an
/// incremental answer cannot say an old id is gone), and the FULL run
/// after it deactivated all 590 originals, under the guard's share since
/// the duplicates had doubled the school. Keeping UPIs, the groups alone
/// were duplicated and the old ones ended, with their ids and history.
async fn an_incremental_run_after_a_change_of_mis_keeps_everyone(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 1, 40).await?;
    let (sim_school, school) = (world.schools[0].0.clone(), world.schools[0].1.id);
    let first = world.sync(0, SyncKind::Full).await?;
    anyhow::ensure!(first.status == SyncStatus::Completed, "first: {:?}", first.error);
    let before = accounts(world.db(), school).await?;
    let groups_before = count_at!(world.db(), school, entity::class, Active, true);

    for new_upis in [true, false] {
        world.sim.migrate_mis(&sim_school, MisMigration { new_upis })?;
        let run = world.sync(0, SyncKind::Incremental).await?;
        assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
        let created = (run.students_created, run.staff_created, run.guardians_created, run.groups_created);
        assert_eq!(created, (0, 0, 0, 0), "no duplicates, new UPIs: {new_upis}");
        assert!(events_of(world.db(), &run).await?.is_empty(), "no event, new UPIs: {new_upis}");
        assert_eq!(accounts(world.db(), school).await?, before, "new UPIs: {new_upis}");
        let warnings = run.warnings.clone().unwrap_or_default();
        assert!(warnings.contains("read the whole school"), "{warnings}");
        world.assert_mirrors(0).await?;

        let full = world.sync(0, SyncKind::Full).await?;
        assert_eq!(full.status, SyncStatus::Completed, "{:?}", full.error);
        assert!(events_of(world.db(), &full).await?.is_empty(), "the FULL run ends nobody");
        assert_eq!(full.groups_deactivated, 0);
        assert_eq!(accounts(world.db(), school).await?, before);
        assert_eq!(count_at!(world.db(), school, entity::class, Active, true), groups_before);
    }
    // A quiet incremental run is not escalated.
    let quiet = world.sync(0, SyncKind::Incremental).await?;
    assert_eq!((quiet.status, quiet.students_reidentified), (SyncStatus::Completed, 0));
    assert!(!quiet.warnings.unwrap_or_default().contains("read the whole school"));
    Ok(())
}

/// The next 1 July after today, and the instant 00:30 BST on it.
fn next_first_of_july() -> (NaiveDate, DateTime<Utc>) {
    let today = Utc::now().date_naive();
    let year = if today.month() < 7 { today.year() } else { today.year() + 1 };
    let day = NaiveDate::from_ymd_opt(year, 7, 1).unwrap_or(today);
    let half_past_midnight_bst = day.and_hms_opt(0, 30, 0).unwrap_or_default().and_utc() - Duration::hours(1);
    (day, half_past_midnight_bst)
}

/// Seen: at 00:30 BST on 1 July a pupil leaving on 1 July stayed active.
async fn the_school_day_decides_who_has_left(engine: Engine) -> anyhow::Result<()> {
    let (world, sim_school, school) = synced_school(&engine).await?;
    let truth = world.truth(0)?;
    let (leaving, leaver_id, stayer_id) = {
        let (day, _) = next_first_of_july();
        (day, truth.students[0].id.clone(), truth.students[1].id.clone())
    };
    world.sim.set_leaving_date(&sim_school, &leaver_id, Some(leaving))?;
    world.sim.set_leaving_date(&sim_school, &stayer_id, leaving.succ_opt())?;

    // It is 23:30 UTC on 30 June: 1 July in the school.
    world.engine.clock.set(next_first_of_july().1);
    let run = world.sync(0, SyncKind::Incremental).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    let leaver = student_by_wonde(world.db(), school, &leaver_id).await?;
    assert_eq!(leaver.status, AccountStatus::Deactivated, "leaving on 1 July, and it is 1 July here");
    assert_eq!(leaver.deactivation_reason, Some(DeactivationReason::LeftSchool));
    let stayer = student_by_wonde(world.db(), school, &stayer_id).await?;
    assert_eq!(stayer.status, AccountStatus::Active, "leaving on 2 July: still on roll");
    world.assert_mirrors(0).await?;

    // An hour earlier it was still 30 June in the school: a fresh look at
    // the edge from the other side, on a second student.
    world.engine.clock.set(next_first_of_july().1 - Duration::hours(1));
    let other = world.truth(0)?.students[2].id.clone();
    world.sim.set_leaving_date(&sim_school, &other, Some(leaving))?;
    let run = world.sync(0, SyncKind::Incremental).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    assert_eq!(student_by_wonde(world.db(), school, &other).await?.status, AccountStatus::Active);
    Ok(())
}

/// Seen: a pupil whose leaving date passed kept access until the weekly
/// FULL run, because nothing about the record changed.
async fn a_leaving_date_that_comes_takes_effect_without_a_change(engine: Engine) -> anyhow::Result<()> {
    let (world, sim_school, school) = synced_school(&engine).await?;
    let tomorrow = world.today() + Duration::days(1);
    let truth = world.truth(0)?;
    let (pupil, other) = (truth.students[0].id.clone(), truth.students[1].id.clone());
    world.sim.set_leaving_date(&sim_school, &pupil, Some(tomorrow))?;
    world.sim.set_leaving_date(&sim_school, &other, Some(tomorrow))?;
    let teacher = truth.current_employees(world.today())[0].id.clone();
    world.sim.staff_leaves(
        &sim_school,
        &teacher,
        &StaffLeave { delete: false, end_date: Some(world.today()) },
    )?;
    let run = world.sync(0, SyncKind::Incremental).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    assert_eq!(student_by_wonde(world.db(), school, &pupil).await?.status, AccountStatus::Active);
    world.assert_mirrors(0).await?;

    // Midnight passes. No record changes; the next INCREMENTAL run sees
    // nothing new from Wonde, yet the dates have come.
    world.engine.clock.advance(Duration::days(1));
    let run = world.sync(0, SyncKind::Incremental).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    let events = events_of(world.db(), &run).await?;
    let left: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Deactivated && e.reason == Some(DeactivationReason::LeftSchool))
        .collect();
    let students_left = left.iter().filter(|e| e.person_kind == Some(PersonKind::Student)).count();
    let staff_left = left.iter().filter(|e| e.person_kind == Some(PersonKind::Staff)).count();
    assert_eq!((students_left, staff_left), (2, 1), "both pupils and the teacher, each with an event");
    let pupil_row = student_by_wonde(world.db(), school, &pupil).await?;
    assert_eq!(pupil_row.deactivation_reason, Some(DeactivationReason::LeftSchool));
    // The whole cascade: memberships, links and guardians left alone.
    world.assert_mirrors(0).await?;
    Ok(())
}

/// The worker's own schedule sweeps each school once its day has begun,
/// with no Wonde run due and no call to Wonde.
async fn the_daily_sweep_runs_at_the_start_of_the_school_day(engine: Engine) -> anyhow::Result<()> {
    let (world, sim_school, school) = synced_school(&engine).await?;
    let pupil = world.truth(0)?.students[0].id.clone();
    world.sim.set_leaving_date(&sim_school, &pupil, Some(world.today() + Duration::days(1)))?;
    let run = world.sync(0, SyncKind::Incremental).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    let (db, id) = (world.db(), student_by_wonde(world.db(), school, &pupil).await?.id);
    let classes = count_active!(db, class_student, StudentId, id);
    assert!(classes > 0 && count_active!(db, year_student, StudentId, id) > 0, "the pupil is in classes");

    // No Wonde runs on the schedule: only the sweep can act.
    let off = Schedule { full_every: None, incremental_every: None, ..Schedule::default() };
    onroll::sync::worker::cycle(&world.engine, &off).await?;
    let sweeps = || {
        sync_run::Entity::find()
            .filter(sync_run::Column::SchoolId.eq(school))
            .filter(sync_run::Column::Kind.eq(SyncKind::Sweep))
            .all(world.db())
    };
    assert!(sweeps().await?.is_empty(), "the school's day was swept by its last run");

    world.engine.clock.advance(Duration::days(1));
    world.sim.clear_requests();
    world.sim.set_outage(&sim_school, true)?;
    onroll::sync::worker::cycle(&world.engine, &off).await?;
    let swept = sweeps().await?;
    assert_eq!(swept.len(), 1, "one sweep at the start of the day");
    assert_eq!(swept[0].status, SyncStatus::Completed, "{:?}", swept[0].error);
    assert_eq!(swept[0].students_deactivated, 1);
    assert_eq!(world.sim.requests().len(), 0, "the sweep needs no Wonde");
    let row = student_by_wonde(world.db(), school, &pupil).await?;
    assert_eq!(
        (row.status, row.deactivation_reason),
        (AccountStatus::Deactivated, Some(DeactivationReason::LeftSchool))
    );
    let events =
        event::Entity::find().filter(event::Column::SyncRunId.eq(swept[0].id)).all(world.db()).await?;
    assert!(events.iter().any(|e| e.person_id == Some(row.id) && e.kind == EventKind::Deactivated));
    // The leaver's memberships end with the sweep, which read only the
    // rows that had to end, not every membership of the school.
    let db = world.db();
    let current = [
        count_active!(db, class_student, StudentId, row.id),
        count_active!(db, year_student, StudentId, row.id),
        count_active!(db, form_student, StudentId, row.id),
    ];
    assert_eq!(current, [0, 0, 0], "the leaver's class, year and form memberships still current");
    // The sweep's batch is empty, so it reconciled without reading the
    // parent groups first (issue 15: a quiet run's reading); the leaver
    // changed them, so it must have read them after all and logged the
    // leaver's parents leaving (docs/parent-groups.md).
    let parents: Vec<i32> = guardian_link::Entity::find()
        .select_only()
        .column(guardian_link::Column::GuardianId)
        .filter(guardian_link::Column::StudentId.eq(row.id))
        .into_tuple()
        .all(world.db())
        .await?;
    anyhow::ensure!(!parents.is_empty(), "the simulated pupil has parents");
    let left_groups: Vec<i32> = events
        .iter()
        .filter(|e| e.kind == EventKind::GuardianLeftGroup)
        .filter_map(onroll::parent_groups::membership::GroupChange::of)
        .flat_map(|change| change.guardians)
        .collect();
    assert!(!left_groups.is_empty(), "the leaver's parents left their groups, and the log says so");
    assert!(
        left_groups.iter().all(|id| parents.contains(id)),
        "only the leaver's parents left a group: {left_groups:?} of {parents:?}"
    );

    // The same day again: nothing more to do.
    onroll::sync::worker::cycle(&world.engine, &off).await?;
    assert_eq!(sweeps().await?.len(), 1);
    Ok(())
}

/// An INCREMENTAL run whose batch names only staff is reconciled in a
/// savepoint without a snapshot of the parent groups (issue 15): what it
/// writes must commit with the run, and no parent moves.
async fn a_staff_only_run_applies_without_reading_parent_groups(engine: Engine) -> anyhow::Result<()> {
    let (world, sim_school, school) = synced_school(&engine).await?;
    let teacher: Vec<(i32, String)> = staff::Entity::find()
        .select_only()
        .columns([staff::Column::Id, staff::Column::WondeId])
        .filter(staff::Column::SchoolId.eq(school))
        .filter(staff::Column::Status.eq(AccountStatus::Active))
        .into_tuple()
        .all(world.db())
        .await?;
    let mut teaching = None;
    for (id, wonde_id) in teacher {
        let classes = class_teacher::Entity::find()
            .filter(class_teacher::Column::StaffId.eq(id))
            .filter(class_teacher::Column::Active.eq(true))
            .count(world.db())
            .await?;
        if classes > 0 {
            teaching = Some((id, wonde_id));
            break;
        }
    }
    let (teacher_id, teacher_wonde) =
        teaching.ok_or_else(|| anyhow::anyhow!("a simulated teacher has classes"))?;
    world.sim.staff_leaves(&sim_school, &teacher_wonde, &StaffLeave { delete: false, end_date: None })?;

    let run = world.sync(0, SyncKind::Incremental).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    assert_eq!((run.staff_deactivated, run.students_updated, run.guardians_updated), (1, 0, 0));
    let row = staff::Entity::find_by_id(teacher_id).one(world.db()).await?;
    let row = row.ok_or_else(|| anyhow::anyhow!("the teacher's record is kept"))?;
    assert_eq!(
        (row.status, row.deactivation_reason),
        (AccountStatus::Deactivated, Some(DeactivationReason::LeftSchool))
    );
    let still_teaching = class_teacher::Entity::find()
        .filter(class_teacher::Column::StaffId.eq(teacher_id))
        .filter(class_teacher::Column::Active.eq(true))
        .count(world.db())
        .await?;
    assert_eq!(still_teaching, 0, "the leaver's classes ended with the run");
    let moved = event::Entity::find()
        .filter(event::Column::SyncRunId.eq(run.id))
        .filter(event::Column::Kind.is_in([EventKind::GuardianJoinedGroup, EventKind::GuardianLeftGroup]))
        .count(world.db())
        .await?;
    assert_eq!(moved, 0, "no parent joined or left a group");
    world.assert_mirrors(0).await?;
    Ok(())
}

/// Seen: a pupil wrongly given a leaving date of today, then corrected,
/// came back with their year and form but only the classes an incremental
/// fetch happened to bring; the rest waited for the weekly FULL run, and
/// their parents were missing from those classes' lists meanwhile.
async fn a_leaver_corrected_gets_every_class_back_in_the_next_incremental_run(
    engine: Engine,
) -> anyhow::Result<()> {
    let (world, sim_school, school) = synced_school(&engine).await?;
    let truth = world.truth(0)?;
    let pupil = truth
        .students
        .iter()
        .find(|s| truth.classes.iter().filter(|c| c.student_ids.contains(&s.id)).count() >= 2)
        .map(|s| s.id.clone())
        .ok_or_else(|| anyhow::anyhow!("a simulated pupil is in two classes"))?;
    world.sim.set_leaving_date(&sim_school, &pupil, Some(world.today()))?;
    let run = world.sync(0, SyncKind::Incremental).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    let row = student_by_wonde(world.db(), school, &pupil).await?;
    assert_eq!(row.status, AccountStatus::Deactivated);
    world.assert_mirrors(0).await?;

    world.sim.set_leaving_date(&sim_school, &pupil, None)?;
    let run = world.sync(0, SyncKind::Incremental).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    assert_eq!(student_by_wonde(world.db(), school, &pupil).await?.status, AccountStatus::Active);
    // Their classes too, not only their year and form.
    world.assert_mirrors(0).await?;
    Ok(())
}

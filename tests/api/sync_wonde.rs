//! The sync engine against the Wonde simulator over real HTTP: after each
//! run the directory must equal the simulated MIS, leavers must cascade as
//! product.md says, and a broken Wonde must change nothing.

use chrono::Utc;
use entity::enums::{AccountStatus, ConnectionStatus, DeactivationReason, SyncKind, SyncStatus};
use entity::*;
use onroll::crypto::Secret;
use onroll::crypto::SecretKey;
use onroll::events::EventBus;
use onroll::server::{Application, Services, Worker};
use onroll::sync::SyncEngine;
use onroll::sync::schedule::Schedule;
use onroll::wonde::{WondeClient, WondeConfig};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};
use std::collections::BTreeSet;
use std::time::Duration;
use wonde_sim::{
    FaultKind, FaultSpec, MisSnapshot, SecretPlacement, SimConfig, SimHandle, Simulator, WebhookEvent,
    WebhookRequest,
};

use crate::active_memberships;
use crate::on_both_engines;
use crate::row_by_wonde_id;
use crate::support::fixture::Fixture;
use crate::support::rows::connection_of;
use crate::support::sim::fast_retry;
use crate::support::{Engine, TestDb, WEBHOOK_SECRET};

on_both_engines!(
    first_full_sync_mirrors_the_trust,
    leavers_starters_and_moves_flow_through_incremental_runs,
    re_enrolment_restore_and_rollover,
    empty_mis_and_broken_wonde_change_nothing,
    concurrent_triggers_share_one_run,
    approval_webhook_starts_the_first_full_run,
    a_student_leaving_mid_run_is_a_leaver_not_a_deletion
);

pub struct World {
    pub sim: SimHandle,
    pub data: TestDb,
    pub engine: SyncEngine,
    /// (Wonde id, our school) per simulated school.
    pub schools: Vec<(String, school::Model)>,
}

impl World {
    pub async fn start(engine: &Engine, schools: usize, students: usize) -> anyhow::Result<Self> {
        let sim = Simulator::start(SimConfig::trust(schools, students, 11)).await?;
        let data = TestDb::create(engine).await?;
        let key = SecretKey::generate();
        let f = Fixture::new(&data.db);
        let trust = f.trust("Simulated Trust").await?;
        let mut ours = Vec::new();
        for sim_school in sim.schools() {
            let school = f.school(&trust, &sim_school.wonde_id).await?;
            let mut school_row: school::ActiveModel = school.into();
            school_row.wonde_id = Set(Some(sim_school.wonde_id.clone()));
            let school = school_row.update(&data.db).await?;
            f.approved_connection(&school, &sim_school.wonde_id, &sim_school.token, &key).await?;
            ours.push((sim_school.wonde_id, school));
        }
        let client = WondeClient::new(WondeConfig {
            base_url: Some(sim.base_url()),
            request_timeout: Duration::from_secs(5),
            retry: fast_retry(3, 50, Duration::from_secs(10)),
            ..WondeConfig::default()
        })?;
        let engine = SyncEngine {
            db: data.db.clone(),
            key,
            events: EventBus::default(),
            client,
            guard_share: 0.5,
            worker: "test-worker".to_owned(),
            clock: Default::default(),
        };
        Ok(Self { sim, data, engine, schools: ours })
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.data.db
    }

    pub async fn sync(&self, index: usize, kind: SyncKind) -> anyhow::Result<sync_run::Model> {
        Ok(self.engine.run_now(self.schools[index].1.id, kind, false).await?)
    }

    /// The schools' today (Europe/London), by the engine's clock.
    pub fn today(&self) -> chrono::NaiveDate {
        onroll::school_day::today(onroll::school_day::DEFAULT_ZONE, self.engine.clock.now())
    }

    pub fn truth(&self, index: usize) -> anyhow::Result<MisSnapshot> {
        Ok(self.sim.truth(&self.schools[index].0)?)
    }

    /// The directory of school `index` equals the MIS: active accounts,
    /// groups, memberships and guardian links.
    pub async fn assert_mirrors(&self, index: usize) -> anyhow::Result<()> {
        let truth = self.truth(index)?;
        let mirror = Mirror::read(self.db(), self.schools[index].1.id).await?;
        let expected = Mirror::of_truth_on(&truth, self.today());
        assert_eq!(mirror.students, expected.students, "active students");
        assert_eq!(mirror.staff, expected.staff, "active staff");
        assert_eq!(mirror.guardians, expected.guardians, "active guardians");
        assert_eq!(mirror.links, expected.links, "active links");
        assert_eq!(mirror.groups, expected.groups, "current groups");
        assert_eq!(mirror.memberships, expected.memberships, "current memberships");
        Ok(())
    }
}

/// A school's directory reduced to comparable sets of Wonde ids.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Mirror {
    pub students: BTreeSet<String>,
    pub staff: BTreeSet<String>,
    pub guardians: BTreeSet<String>,
    pub links: BTreeSet<(String, String, String)>,
    pub groups: BTreeSet<String>,
    pub memberships: BTreeSet<(String, String)>,
}

impl Mirror {
    /// The MIS as Onroll should mirror it today (the school's today, in
    /// Europe/London as the simulator's schools are).
    pub fn of_truth(truth: &MisSnapshot) -> Self {
        Self::of_truth_on(truth, onroll::school_day::today(onroll::school_day::DEFAULT_ZONE, Utc::now()))
    }

    /// The MIS as Onroll should mirror it on `today`: students on roll
    /// whose leaving date has come are leavers.
    pub fn of_truth_on(truth: &MisSnapshot, today: chrono::NaiveDate) -> Self {
        let on_roll: BTreeSet<&str> = truth
            .students
            .iter()
            .filter(|s| s.leaving_date.is_none_or(|d| d > today))
            .map(|s| s.id.as_str())
            .collect();
        let links: Vec<_> = truth.links.iter().filter(|l| on_roll.contains(l.student_id.as_str())).collect();
        let staff: BTreeSet<String> = truth.current_employees(today).iter().map(|e| e.id.clone()).collect();
        let mut memberships = BTreeSet::new();
        for s in truth.students.iter().filter(|s| on_roll.contains(s.id.as_str())) {
            for group in [&s.year_group_id, &s.form_group_id].into_iter().flatten() {
                memberships.insert((group.clone(), s.id.clone()));
            }
        }
        for group in &truth.groups {
            for e in group.employee_ids.iter().filter(|e| staff.contains(*e)) {
                if matches!(group.kind, wonde_sim::model::GroupKind::Registration) {
                    memberships.insert((group.id.clone(), e.clone()));
                }
            }
        }
        for class in &truth.classes {
            for s in class.student_ids.iter().filter(|s| on_roll.contains(s.as_str())) {
                memberships.insert((class.id.clone(), s.clone()));
            }
            for t in class.teachers.iter().filter(|t| staff.contains(&t.employee_id)) {
                memberships.insert((class.id.clone(), t.employee_id.clone()));
            }
        }
        Self {
            students: on_roll.iter().map(|s| (*s).to_owned()).collect(),
            guardians: links.iter().map(|l| l.contact_id.clone()).collect(),
            links: links
                .iter()
                .map(|l| (l.student_id.clone(), l.contact_id.clone(), l.relationship.clone()))
                .collect(),
            staff,
            groups: truth
                .groups
                .iter()
                .map(|g| g.id.clone())
                .chain(truth.classes.iter().map(|c| c.id.clone()))
                .collect(),
            memberships,
        }
    }

    pub async fn read(db: &DatabaseConnection, school: i32) -> anyhow::Result<Self> {
        let active = AccountStatus::Active;
        let students = student::Entity::find().filter(student::Column::SchoolId.eq(school)).all(db).await?;
        let staff = staff::Entity::find().filter(staff::Column::SchoolId.eq(school)).all(db).await?;
        let guardians =
            guardian::Entity::find().filter(guardian::Column::SchoolId.eq(school)).all(db).await?;
        let wonde =
            |rows: Vec<(i32, String)>| rows.into_iter().collect::<std::collections::HashMap<i32, String>>();
        let student_ids = wonde(students.iter().map(|s| (s.id, s.wonde_id.clone())).collect());
        let staff_ids = wonde(staff.iter().map(|s| (s.id, s.wonde_id.clone())).collect());
        let guardian_ids = wonde(guardians.iter().map(|g| (g.id, g.wonde_id.clone())).collect());
        let links = guardian_link::Entity::find()
            .filter(guardian_link::Column::SchoolId.eq(school))
            .filter(guardian_link::Column::Active.eq(true))
            .all(db)
            .await?;
        let years =
            year_group::Entity::find().filter(year_group::Column::SchoolId.eq(school)).all(db).await?;
        let forms =
            form_group::Entity::find().filter(form_group::Column::SchoolId.eq(school)).all(db).await?;
        let classes = class::Entity::find().filter(class::Column::SchoolId.eq(school)).all(db).await?;
        let group_ids: std::collections::HashMap<(u8, i32), String> = years
            .iter()
            .map(|g| ((0, g.id), g.wonde_id.clone()))
            .chain(forms.iter().map(|g| ((1, g.id), g.wonde_id.clone())))
            .chain(classes.iter().map(|g| ((2, g.id), g.wonde_id.clone())))
            .collect();
        let mut memberships = BTreeSet::new();
        let name =
            |map: &std::collections::HashMap<i32, String>, id: i32| map.get(&id).cloned().unwrap_or_default();
        let group = |kind: u8, id: i32| group_ids.get(&(kind, id)).cloned().unwrap_or_default();
        for m in active_memberships!(db, school, year_student) {
            memberships.insert((group(0, m.year_group_id), name(&student_ids, m.student_id)));
        }
        for m in active_memberships!(db, school, form_student) {
            memberships.insert((group(1, m.form_group_id), name(&student_ids, m.student_id)));
        }
        for m in active_memberships!(db, school, form_tutor) {
            memberships.insert((group(1, m.form_group_id), name(&staff_ids, m.staff_id)));
        }
        for m in active_memberships!(db, school, class_student) {
            memberships.insert((group(2, m.class_id), name(&student_ids, m.student_id)));
        }
        for m in active_memberships!(db, school, class_teacher) {
            memberships.insert((group(2, m.class_id), name(&staff_ids, m.staff_id)));
        }
        Ok(Self {
            students: students.iter().filter(|s| s.status == active).map(|s| s.wonde_id.clone()).collect(),
            staff: staff.iter().filter(|s| s.status == active).map(|s| s.wonde_id.clone()).collect(),
            guardians: guardians.iter().filter(|g| g.status == active).map(|g| g.wonde_id.clone()).collect(),
            links: links
                .iter()
                .map(|l| {
                    (
                        name(&student_ids, l.student_id),
                        name(&guardian_ids, l.guardian_id),
                        l.relationship_label.clone().unwrap_or_default(),
                    )
                })
                .collect(),
            groups: years
                .iter()
                .filter(|g| g.active)
                .map(|g| g.wonde_id.clone())
                .chain(forms.iter().filter(|g| g.active).map(|g| g.wonde_id.clone()))
                .chain(classes.iter().filter(|g| g.active).map(|g| g.wonde_id.clone()))
                .collect(),
            memberships,
        })
    }
}

pub async fn student_by_wonde(
    db: &DatabaseConnection,
    school: i32,
    wonde: &str,
) -> anyhow::Result<student::Model> {
    row_by_wonde_id!(db, school, student, wonde)
}

/// The run's last progress event is its end (its status as the phase) and
/// carries the count the run reached, not a fresh 0.
pub async fn assert_progress_ends_with_its_count(
    db: &DatabaseConnection,
    run: &sync_run::Model,
) -> anyhow::Result<()> {
    let events = event::Entity::find()
        .filter(event::Column::SyncRunId.eq(run.id))
        .filter(event::Column::Kind.eq(entity::enums::EventKind::SyncProgress))
        .order_by_asc(event::Column::Id)
        .all(db)
        .await?;
    let mut progress = Vec::new();
    for event in &events {
        let payload: serde_json::Value = serde_json::from_str(event.payload.as_deref().unwrap_or("{}"))?;
        progress.push((
            payload["phase"].as_str().unwrap_or_default().to_owned(),
            payload["processed"].as_i64().unwrap_or(-1),
        ));
    }
    let [.., before, (phase, processed)] = progress.as_slice() else {
        anyhow::bail!("run {} reported too little progress: {progress:?}", run.id)
    };
    assert_eq!(phase, run.status.as_str(), "{progress:?}");
    assert!(*processed > 0, "the end reports the run's count: {progress:?}");
    assert_eq!(*processed, before.1, "the end repeats the last count: {progress:?}");
    if run.kind == SyncKind::Full {
        // Each page is reported while the next is fetched: the last page
        // of the last list (form groups) is reported before the apply.
        let applying = progress.iter().position(|(phase, _)| phase == "applying");
        let fetched = applying.and_then(|at| at.checked_sub(1)).map(|at| progress[at].0.as_str());
        assert_eq!(fetched, Some("form groups"), "every page reported before the apply: {progress:?}");
    }
    Ok(())
}

async fn first_full_sync_mirrors_the_trust(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 2, 40).await?;
    for i in 0..2 {
        let run = world.sync(i, SyncKind::Full).await?;
        assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
        assert_eq!(run.students_deactivated, 0);
        assert!(run.students_created >= 40 && run.guardians_created > 0 && run.groups_created > 0);
        world.assert_mirrors(i).await?;
        assert_progress_ends_with_its_count(world.db(), &run).await?;
    }
    // A second FULL run with nothing changed changes nothing.
    let again = world.sync(0, SyncKind::Full).await?;
    assert_eq!((again.students_created, again.students_updated, again.students_deactivated), (0, 0, 0));
    assert_eq!((again.guardians_created, again.guardians_deactivated), (0, 0));
    Ok(())
}

async fn leavers_starters_and_moves_flow_through_incremental_runs(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 2, 40).await?;
    for i in 0..2 {
        world.sync(i, SyncKind::Full).await?;
    }
    let (wonde_a, school_a) = world.schools[0].clone();
    let truth = world.truth(0)?;
    // A student whose guardian has another child here (the sibling rule),
    // and one whose guardians have none.
    let has_sibling = |id: &str| {
        truth
            .links_of(id)
            .iter()
            .any(|l| truth.links.iter().any(|o| o.contact_id == l.contact_id && o.student_id != id))
    };
    let with_sibling = truth
        .students
        .iter()
        .find(|s| has_sibling(&s.id))
        .ok_or_else(|| anyhow::anyhow!("the simulator made no siblings"))?
        .id
        .clone();
    let only_child = truth
        .students
        .iter()
        .find(|s| !has_sibling(&s.id) && !truth.links_of(&s.id).is_empty())
        .ok_or_else(|| anyhow::anyhow!("no only child"))?
        .id
        .clone();
    let parent_of_only = truth.links_of(&only_child)[0].contact_id.clone();
    world.sim.student_leaves(&wonde_a, &with_sibling, None)?;
    world.sim.student_leaves(&wonde_a, &only_child, None)?;
    let starter = world.sim.new_starter(&wonde_a, &Default::default())?;
    let teacher = truth.current_employees(Utc::now().date_naive())[0].id.clone();
    world.sim.staff_leaves(&wonde_a, &teacher, &Default::default())?;

    let run = world.sync(0, SyncKind::Incremental).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    world.assert_mirrors(0).await?;
    let db = world.db();
    let left = student_by_wonde(db, school_a.id, &only_child).await?;
    assert_eq!(left.deactivation_reason, Some(DeactivationReason::LeftSchool));
    assert_eq!(student_by_wonde(db, school_a.id, &starter.id).await?.status, AccountStatus::Active);
    let parent = row_by_wonde_id!(db, school_a.id, guardian, parent_of_only.as_str())?;
    assert_eq!(parent.deactivation_reason, Some(DeactivationReason::NoActiveChildren));
    // The other school is untouched: its directory still mirrors its MIS.
    world.assert_mirrors(1).await?;
    // One event per deactivated account, of this run.
    let events = event::Entity::find().filter(event::Column::SyncRunId.eq(run.id)).all(db).await?;
    let deactivations = events.iter().filter(|e| e.kind == entity::enums::EventKind::Deactivated).count();
    let counted = run.students_deactivated + run.staff_deactivated + run.guardians_deactivated;
    assert_eq!(i32::try_from(deactivations)?, counted);
    assert!(counted >= 3, "two students, a teacher and at least one parent: {counted}");
    Ok(())
}

async fn re_enrolment_restore_and_rollover(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 1, 40).await?;
    world.sync(0, SyncKind::Full).await?;
    let (wonde_a, school_a) = world.schools[0].clone();
    let truth = world.truth(0)?;
    let student = truth.students[3].id.clone();
    let before = student_by_wonde(world.db(), school_a.id, &student).await?;
    let again = world.sim.re_enrol(&wonde_a, &student)?;
    let run = world.sync(0, SyncKind::Incremental).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    let after = student_by_wonde(world.db(), school_a.id, &again.id).await?;
    assert_eq!(after.id, before.id, "re-enrolment keeps the same person");
    assert_eq!(after.status, AccountStatus::Active);
    world.assert_mirrors(0).await?;

    // A leaver who is restored comes back, with an event.
    let returner = truth.students[5].id.clone();
    world.sim.student_leaves(&wonde_a, &returner, None)?;
    world.sync(0, SyncKind::Incremental).await?;
    world.sim.restore(&wonde_a, &returner)?;
    let run = world.sync(0, SyncKind::Incremental).await?;
    assert!(run.students_reactivated >= 1, "{run:?}");
    world.assert_mirrors(0).await?;

    // Year-end: everyone moves up, the top year leaves, a new intake joins.
    world.sim.rollover(&wonde_a)?;
    let run = world.engine.run_now(school_a.id, SyncKind::Full, true).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    world.assert_mirrors(0).await?;
    Ok(())
}

async fn empty_mis_and_broken_wonde_change_nothing(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 1, 30).await?;
    world.sync(0, SyncKind::Full).await?;
    let (wonde_a, _) = world.schools[0].clone();
    let before = Mirror::read(world.db(), world.schools[0].1.id).await?;

    // The MIS answers empty lists: the guard holds every deactivation, so
    // the school is not wiped, and the run completes with them held.
    world.sim.set_outage(&wonde_a, true)?;
    let run = world.sync(0, SyncKind::Full).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    // Guardians wait with their held children (held for their own decision).
    assert!(run.students_held > 0 && run.guardians_held > 0, "{run:?}");
    assert_eq!(run.students_deactivated + run.staff_deactivated + run.guardians_deactivated, 0);
    assert_eq!(Mirror::read(world.db(), world.schools[0].1.id).await?, before);
    world.sim.set_outage(&wonde_a, false)?;

    // A 429 with Retry-After is waited out.
    world.sim.inject_fault(
        FaultSpec::new("students", FaultKind::RateLimited { retry_after_secs: Some(1) }, 1)
            .for_school(&wonde_a),
    );
    let run = world.sync(0, SyncKind::Full).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);

    // Persistent 500s and truncated bodies fail the run; nothing changes.
    let leaver = world.truth(0)?.students[0].id.clone();
    world.sim.student_leaves(&wonde_a, &leaver, None)?;
    for kind in [FaultKind::ServerError { status: 500 }, FaultKind::Truncate] {
        world.sim.inject_fault(FaultSpec::new("contacts", kind, 100).for_school(&wonde_a));
        let run = world.sync(0, SyncKind::Full).await?;
        assert_eq!(run.status, SyncStatus::Failed, "{:?}", run.error);
        let error = run.error.unwrap_or_default();
        assert!(error.contains("nothing was changed"), "{error}");
        assert_eq!(Mirror::read(world.db(), world.schools[0].1.id).await?, before, "no deactivation");
        world.sim.clear_faults();
    }
    // Once Wonde answers again, the next run converges.
    let run = world.sync(0, SyncKind::Full).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    world.assert_mirrors(0).await?;
    Ok(())
}

async fn concurrent_triggers_share_one_run(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 1, 30).await?;
    let school = world.schools[0].1.id;
    let (a, b) = tokio::join!(
        world.engine.run_now(school, SyncKind::Full, false),
        world.engine.run_now(school, SyncKind::Full, false)
    );
    let (a, b) = (a?, b?);
    assert_eq!(a.id, b.id, "both triggers got the one run");
    let runs = sync_run::Entity::find().filter(sync_run::Column::SchoolId.eq(school)).all(world.db()).await?;
    assert_eq!(runs.len(), 1);
    Ok(())
}

async fn approval_webhook_starts_the_first_full_run(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 1, 30).await?;
    let (wonde_a, school_a) = world.schools[0].clone();
    // The school awaits approval: no token yet.
    let connection = connection_of(world.db(), school_a.id).await?;
    let mut pending: wonde_connection::ActiveModel = connection.into();
    pending.status = Set(ConnectionStatus::Pending);
    pending.token_ciphertext = Set(None);
    pending.update(world.db()).await?;

    // A server with its sync worker; the tick is long, so only the
    // webhook's wake-up can start the run in time.
    let services = Services {
        db: world.db().clone(),
        secret_key: world.engine.key.clone(),
        webhook_secret: Some(Secret::new(WEBHOOK_SECRET)),
        events: world.engine.events.clone(),
        sync_wake: Default::default(),
        wonde: world.engine.client.clone(),
        wonde_app_token: None,
    };
    let worker = Worker {
        engine: world.engine.clone(),
        schedule: Schedule::default(),
        tick: Duration::from_secs(3600),
    };
    let app = Application::new(services, ([127, 0, 0, 1], 0).into()).await?.with_worker(worker);
    let addr = app.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));

    let outcome = world
        .sim
        .send_webhook(&WebhookRequest {
            url: format!("http://{addr}/webhooks/wonde"),
            school_id: wonde_a.clone(),
            event: WebhookEvent::SchoolApproved,
            secret: Some(WEBHOOK_SECRET.to_owned()),
            secret_in: SecretPlacement::Header,
        })
        .await?;
    assert!(outcome.status < 300, "{outcome:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let run = loop {
        let run = sync_run::Entity::find()
            .filter(sync_run::Column::SchoolId.eq(school_a.id))
            .one(world.db())
            .await?;
        if let Some(run) = run.filter(|r| r.status == SyncStatus::Completed || r.status == SyncStatus::Failed)
        {
            break run;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the first FULL run did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((run.kind, run.status), (SyncKind::Full, SyncStatus::Completed), "{:?}", run.error);
    world.assert_mirrors(0).await?;
    let _ = stop.send(());
    server.await??;
    Ok(())
}

/// A student who leaves in the MIS while a run is fetching gets a leaver
/// record and a deletion at once. Here the leave lands while Wonde is
/// answering the run's `deletions` request, so that answer shows the
/// deletion; the run must also see the leaver record (it fetches deletions
/// before `students-leaver`) and record LEFT_SCHOOL, not REMOVED_FROM_MIS.
async fn a_student_leaving_mid_run_is_a_leaver_not_a_deletion(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 1, 30).await?;
    let first = world.sync(0, SyncKind::Full).await?;
    assert_eq!(first.status, SyncStatus::Completed, "{:?}", first.error);
    let (wonde_a, school_a) = world.schools[0].clone();
    let leaver = world.truth(0)?.students[2].id.clone();

    world
        .sim
        .inject_fault(FaultSpec::new("deletions", FaultKind::Latency { ms: 1_500 }, 1).for_school(&wonde_a));
    let leave = async {
        // The rule is taken when the deletions request arrives; its answer
        // is rendered after the wait, so it includes the leave.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while world.sim.pending_faults() > 0 {
            anyhow::ensure!(tokio::time::Instant::now() < deadline, "the run never asked for deletions");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(world.sim.student_leaves(&wonde_a, &leaver, None)?)
    };
    let (run, left) = tokio::join!(world.sync(0, SyncKind::Incremental), leave);
    let (run, _) = (run?, left?);
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    let student = student_by_wonde(world.db(), school_a.id, &leaver).await?;
    assert_eq!(student.status, AccountStatus::Deactivated, "the run saw the leave");
    assert_eq!(student.deactivation_reason, Some(DeactivationReason::LeftSchool));
    let events_of = |run_id: i32| {
        event::Entity::find()
            .filter(event::Column::PersonId.eq(student.id))
            .filter(event::Column::PersonKind.eq(entity::enums::PersonKind::Student))
            .filter(event::Column::SyncRunId.eq(run_id))
            .all(world.db())
    };
    let events: Vec<_> = events_of(run.id).await?.into_iter().map(|e| (e.kind, e.reason)).collect();
    assert_eq!(events, vec![(entity::enums::EventKind::Deactivated, Some(DeactivationReason::LeftSchool))]);
    assert_progress_ends_with_its_count(world.db(), &run).await?;

    // The next run sees the leaver record and the deletion again: nothing
    // changes, no event.
    let next = world.sync(0, SyncKind::Incremental).await?;
    assert_eq!(next.status, SyncStatus::Completed, "{:?}", next.error);
    assert!(events_of(next.id).await?.is_empty());
    let student = student_by_wonde(world.db(), school_a.id, &leaver).await?;
    assert_eq!(student.deactivation_reason, Some(DeactivationReason::LeftSchool));
    world.assert_mirrors(0).await?;
    Ok(())
}

//! Model-based property test: random sequences of MIS changes in the
//! simulator, each followed by a FULL or INCREMENTAL sync, under a guard
//! share drawn per case. After every sync and every decision on what the
//! mass-deactivation guard held, the directory's active accounts, groups,
//! memberships and guardian links equal the MIS's, except what a pending
//! held change keeps as it was; and the event log holds exactly one event
//! per status change. Wrong deactivations (an account the MIS has, not
//! active) and missed ones (an active account the MIS no longer has, not
//! held) are counted over all cases and must both be zero.

use chrono::Utc;
use entity::enums::{
    AccountStatus, DeactivationReason, EventKind, HeldStatus, HeldTarget, PersonKind, SyncKind, SyncStatus,
};
use entity::{
    class, class_student, class_teacher, event, form_group, form_student, form_tutor, guardian,
    guardian_link, held_change, staff, student, sync_run, year_group, year_student,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use wonde_sim::{NewStarter, StaffLeave};

use crate::active_memberships;
use crate::support::Engine;
use crate::sync_wonde::{Mirror, World};

/// One change to the MIS; indices pick among the current candidates.
#[derive(Clone, Debug)]
enum Change {
    Leaves(usize),
    Starter {
        sibling: Option<usize>,
    },
    MoveClass(usize, usize),
    MoveForm(usize, usize),
    StaffLeaves {
        which: usize,
        delete: bool,
    },
    ReEnrol(usize),
    Restore(usize),
    Rollover,
    /// The school changes MIS: every record re-keyed.
    MigrateMis {
        new_upis: bool,
    },
    /// A leaving date recorded ahead (0..=2 days from the school's today):
    /// the pupil stays on roll until it comes.
    LeavingDateAhead(usize, u8),
    /// An employment end date recorded ahead (0..=2 days).
    EmploymentEndAhead(usize, u8),
    /// Time passes between runs: leaving dates come with no record change.
    HoursPass(u8),
    /// The clock stands at 23:30 UTC on the next summer day: already the
    /// next day at a school in Europe/London.
    SummerMidnight,
    /// `count` pupils from the `from`th on deleted at once, with no leaver
    /// record (Wonde's deletions feed only): weak evidence, which the guard
    /// judges and, past its share, holds.
    MassDeletion {
        from: usize,
        count: u8,
    },
    /// The MIS answers empty lists for one run, then recovers: a FULL run
    /// sees everyone absent, which the guard must hold, never apply.
    Outage,
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        3 => any::<usize>().prop_map(Change::Leaves),
        2 => proptest::option::of(any::<usize>()).prop_map(|sibling| Change::Starter { sibling }),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(s, c)| Change::MoveClass(s, c)),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(s, f)| Change::MoveForm(s, f)),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(which, delete)| Change::StaffLeaves { which, delete }),
        1 => any::<usize>().prop_map(Change::ReEnrol),
        1 => any::<usize>().prop_map(Change::Restore),
        1 => Just(Change::Rollover),
        1 => any::<bool>().prop_map(|new_upis| Change::MigrateMis { new_upis }),
        2 => (any::<usize>(), 0u8..3).prop_map(|(s, d)| Change::LeavingDateAhead(s, d)),
        1 => (any::<usize>(), 0u8..3).prop_map(|(e, d)| Change::EmploymentEndAhead(e, d)),
        2 => (1u8..30).prop_map(Change::HoursPass),
        1 => Just(Change::SummerMidnight),
        3 => (any::<usize>(), 2u8..14).prop_map(|(from, count)| Change::MassDeletion { from, count }),
        2 => Just(Change::Outage),
    ]
}

/// What an administrator does, after a run, with the changes waiting for a
/// decision (if any).
#[derive(Clone, Copy, Debug)]
enum Decision {
    /// Approves every pending change the MIS agrees with (its target is
    /// gone from the MIS). One the MIS contradicts (an outage's) is left
    /// pending: approving it would be the administrator's mistake, which
    /// takes access from people the MIS has, not the product's.
    Approve,
    /// Rejects every pending change; a FULL run follows at once (forced,
    /// or not: then it holds again, or applies, what the MIS still lacks).
    Reject { force: bool },
    /// Leaves them pending for the next runs.
    Leave,
}

fn decision() -> impl Strategy<Value = Decision> {
    prop_oneof![
        2 => Just(Decision::Approve),
        1 => any::<bool>().prop_map(|force| Decision::Reject { force }),
        2 => Just(Decision::Leave),
    ]
}

/// The guard's share for a case: half the time 1.0 (the guard never trips:
/// a run cannot doubt more than all of a kind), else a share that a mass
/// deletion or an outage does trip.
fn guard_share() -> impl Strategy<Value = f64> {
    prop_oneof![2 => Just(1.0), 1 => Just(0.5), 1 => Just(0.2)]
}

/// One step of a case: a change to the MIS, the kind of run that follows
/// (FULL when true), what Wonde gets wrong in it, and the decision taken
/// on what is then held.
#[derive(Clone, Debug)]
struct Step {
    change: Change,
    full: bool,
    fault: Option<Fault>,
    decision: Decision,
}

fn step() -> impl Strategy<Value = Step> {
    (change(), any::<bool>(), fault(), decision()).prop_map(|(change, full, fault, decision)| Step {
        change,
        full,
        fault,
        decision,
    })
}

/// What Wonde does wrong during the run that follows a change.
#[derive(Clone, Debug)]
enum Fault {
    /// A page answers 200 with an `error` and no `data`: once (a retry
    /// gets the page) or on every attempt (the run must fail, changing
    /// nothing, and the next run converge).
    ErrorPage { endpoint: &'static str, persistent: bool },
    /// Offset paging repeats the last record of page 1 on page 2.
    RepeatedRecord { endpoint: &'static str },
}

const ENDPOINTS: [&str; 4] = ["students", "contacts", "employees", "students-leaver"];

fn fault() -> impl Strategy<Value = Option<Fault>> {
    let endpoint = (0..ENDPOINTS.len()).prop_map(|i| ENDPOINTS[i]);
    prop_oneof![
        6 => Just(None),
        1 => (endpoint.clone(), any::<bool>())
            .prop_map(|(endpoint, persistent)| Some(Fault::ErrorPage { endpoint, persistent })),
        1 => endpoint.prop_map(|endpoint| Some(Fault::RepeatedRecord { endpoint })),
    ]
}

/// What the cases drew and ran (a change with nothing to act on is not
/// counted; a failing case's shrinking is), printed at the end so a run's
/// coverage can be reported.
static DRAWN: std::sync::Mutex<BTreeMap<String, usize>> = std::sync::Mutex::new(BTreeMap::new());

fn tally(label: String) {
    tally_n(label, 1);
}

fn tally_n(label: String, n: usize) {
    if let Ok(mut drawn) = DRAWN.lock() {
        *drawn.entry(label).or_default() += n;
    }
}

/// Accounts the MIS has on roll that a check found deactivated, over all
/// cases. (A held account found deactivated fails the check too.)
static WRONG: AtomicUsize = AtomicUsize::new(0);
/// Active accounts the MIS no longer has and no pending held change keeps,
/// over all cases.
static MISSED: AtomicUsize = AtomicUsize::new(0);

fn inject(world: &World, fault: &Fault) {
    use wonde_sim::{FaultKind, FaultSpec};
    let school = &world.schools[0].0;
    let spec = match fault {
        Fault::ErrorPage { endpoint, persistent } => FaultSpec::new(
            endpoint,
            FaultKind::OkErrorBody { message: "Something went wrong".to_owned() },
            if *persistent { 50 } else { 1 },
        ),
        Fault::RepeatedRecord { endpoint } => {
            FaultSpec::new(endpoint, FaultKind::RepeatPrevious, 1).on_page(2)
        }
    };
    world.sim.inject_fault(spec.for_school(school));
}

fn pick<T: Clone>(items: &[T], index: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[index % items.len()].clone())
}

/// Applies a change; returns false when it had nothing to act on.
fn apply(world: &World, change: &Change) -> anyhow::Result<bool> {
    let school = world.schools[0].0.clone();
    let truth = world.truth(0)?;
    let students: Vec<String> = truth.students.iter().map(|s| s.id.clone()).collect();
    let sim = &world.sim;
    let applied = match change {
        Change::Leaves(i) => match pick(&students, *i) {
            Some(s) => sim.student_leaves(&school, &s, None).map(|_| true)?,
            None => false,
        },
        Change::Starter { sibling } => {
            let sibling_of = sibling.and_then(|i| pick(&students, i));
            sim.new_starter(&school, &NewStarter { sibling_of, ..NewStarter::default() })?;
            true
        }
        Change::MoveClass(s, c) => {
            let Some(student) = pick(&students, *s) else { return Ok(false) };
            let classes: Vec<String> = truth.classes.iter().map(|c| c.id.clone()).collect();
            let from = truth.classes.iter().find(|c| c.student_ids.contains(&student)).map(|c| c.id.clone());
            match (from, pick(&classes, *c)) {
                (Some(from), Some(to)) if from != to => {
                    sim.move_class(&school, &student, &from, &to).map(|_| true)?
                }
                _ => false,
            }
        }
        Change::MoveForm(s, f) => {
            let forms: Vec<String> = truth
                .groups
                .iter()
                .filter(|g| matches!(g.kind, wonde_sim::model::GroupKind::Registration))
                .map(|g| g.id.clone())
                .collect();
            match (pick(&students, *s), pick(&forms, *f)) {
                (Some(student), Some(form)) => sim.change_form(&school, &student, &form).map(|_| true)?,
                _ => false,
            }
        }
        Change::StaffLeaves { which, delete } => {
            let staff: Vec<String> =
                truth.current_employees(world.today()).iter().map(|e| e.id.clone()).collect();
            match pick(&staff, *which) {
                Some(e) => sim
                    .staff_leaves(&school, &e, &StaffLeave { delete: *delete, end_date: None })
                    .map(|_| true)?,
                None => false,
            }
        }
        Change::ReEnrol(i) => match pick(&students, *i) {
            Some(s) => sim.re_enrol(&school, &s).map(|_| true)?,
            None => false,
        },
        Change::Restore(i) => {
            let leavers: Vec<String> = truth.leavers.iter().map(|s| s.id.clone()).collect();
            match pick(&leavers, *i) {
                Some(s) => sim.restore(&school, &s).map(|_| true)?,
                None => false,
            }
        }
        Change::Rollover => sim.rollover(&school).map(|_| true)?,
        Change::MigrateMis { new_upis } => {
            sim.migrate_mis(&school, wonde_sim::MisMigration { new_upis: *new_upis }).map(|_| true)?
        }
        Change::LeavingDateAhead(i, days) => {
            let on_roll: Vec<String> =
                truth.students.iter().filter(|s| s.leaving_date.is_none()).map(|s| s.id.clone()).collect();
            match pick(&on_roll, *i) {
                Some(s) => {
                    let date = world.today() + chrono::Duration::days(i64::from(*days));
                    sim.set_leaving_date(&school, &s, Some(date)).map(|_| true)?
                }
                None => false,
            }
        }
        Change::EmploymentEndAhead(i, days) => {
            let staff: Vec<String> = truth
                .current_employees(world.today())
                .iter()
                .filter(|e| e.employment_end_date.is_none())
                .map(|e| e.id.clone())
                .collect();
            match pick(&staff, *i) {
                Some(e) => {
                    let end = world.today() + chrono::Duration::days(i64::from(*days));
                    sim.staff_leaves(&school, &e, &StaffLeave { delete: false, end_date: Some(end) })
                        .map(|_| true)?
                }
                None => false,
            }
        }
        Change::HoursPass(hours) => {
            world.engine.clock.advance(chrono::Duration::hours(i64::from(*hours)));
            true
        }
        Change::SummerMidnight => {
            world.engine.clock.set(next_summer_midnight(world.engine.clock.now()));
            true
        }
        Change::MassDeletion { from, count } => {
            if students.is_empty() {
                return Ok(false);
            }
            let start = from % students.len();
            for k in 0..usize::from(*count).min(students.len()) {
                sim.delete_student(&school, &students[(start + k) % students.len()])?;
            }
            true
        }
        // The caller ends the outage after the run.
        Change::Outage => sim.set_outage(&school, true).map(|_| true)?,
    };
    Ok(applied)
}

/// 23:30 UTC on the next day from June to August after `now` (at least
/// an hour on): 00:30 the next day in a school on British Summer Time.
fn next_summer_midnight(now: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    use chrono::Datelike;
    let mut day = now.date_naive();
    loop {
        let at = day.and_hms_opt(23, 30, 0).unwrap_or_default().and_utc();
        if (6..=8).contains(&day.month()) && at > now + chrono::Duration::hours(1) {
            return at;
        }
        day = day.succ_opt().unwrap_or(day);
    }
}

/// Every account's status, by kind and id.
pub async fn statuses(
    db: &DatabaseConnection,
    school: i32,
) -> anyhow::Result<BTreeMap<(u8, i32), AccountStatus>> {
    let mut out = BTreeMap::new();
    for s in student::Entity::find().filter(student::Column::SchoolId.eq(school)).all(db).await? {
        out.insert((0, s.id), s.status);
    }
    for s in staff::Entity::find().filter(staff::Column::SchoolId.eq(school)).all(db).await? {
        out.insert((1, s.id), s.status);
    }
    for g in guardian::Entity::find().filter(guardian::Column::SchoolId.eq(school)).all(db).await? {
        out.insert((2, g.id), g.status);
    }
    Ok(out)
}

fn kind_code(kind: Option<PersonKind>) -> u8 {
    match kind {
        Some(PersonKind::Student) => STUDENT,
        Some(PersonKind::Staff) => STAFF,
        _ => GUARDIAN,
    }
}

/// Account kinds, as [`statuses`] and [`Directory`] key them.
const STUDENT: u8 = 0;
const STAFF: u8 = 1;
const GUARDIAN: u8 = 2;

/// One account as the checks need it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Account {
    wonde_id: String,
    status: AccountStatus,
    reason: Option<DeactivationReason>,
}

/// A row of one of several tables: (which table or kind, id).
type Row = (u8, i32);

/// A school's directory by row id, so that what a held change keeps can
/// be followed across a run even when a MIS change re-keys its records.
/// [`Directory::mirror`] reduces it to the [`Mirror`] the truth is compared
/// with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Directory {
    /// (kind, id) to the account.
    accounts: BTreeMap<Row, Account>,
    /// (0 year, 1 form, 2 class; id) to Wonde id and whether current.
    groups: BTreeMap<Row, (String, bool)>,
    /// Current membership rows, (table, row id) to group and member (an
    /// account key). Tables: 0 year_student, 1 form_student, 2
    /// class_student, 3 form_tutor, 4 class_teacher.
    memberships: BTreeMap<Row, (Row, Row)>,
    /// Current guardian links, row id to student id, guardian id, label.
    links: BTreeMap<i32, (i32, i32, String)>,
}

impl Directory {
    async fn read(db: &DatabaseConnection, school: i32) -> anyhow::Result<Self> {
        let mut d = Self::default();
        let account = |wonde_id: String, status, reason| Account { wonde_id, status, reason };
        for s in student::Entity::find().filter(student::Column::SchoolId.eq(school)).all(db).await? {
            d.accounts.insert((STUDENT, s.id), account(s.wonde_id, s.status, s.deactivation_reason));
        }
        for s in staff::Entity::find().filter(staff::Column::SchoolId.eq(school)).all(db).await? {
            d.accounts.insert((STAFF, s.id), account(s.wonde_id, s.status, s.deactivation_reason));
        }
        for g in guardian::Entity::find().filter(guardian::Column::SchoolId.eq(school)).all(db).await? {
            d.accounts.insert((GUARDIAN, g.id), account(g.wonde_id, g.status, g.deactivation_reason));
        }
        for g in year_group::Entity::find().filter(year_group::Column::SchoolId.eq(school)).all(db).await? {
            d.groups.insert((0, g.id), (g.wonde_id, g.active));
        }
        for g in form_group::Entity::find().filter(form_group::Column::SchoolId.eq(school)).all(db).await? {
            d.groups.insert((1, g.id), (g.wonde_id, g.active));
        }
        for g in class::Entity::find().filter(class::Column::SchoolId.eq(school)).all(db).await? {
            d.groups.insert((2, g.id), (g.wonde_id, g.active));
        }
        for m in active_memberships!(db, school, year_student) {
            d.memberships.insert((0, m.id), ((0, m.year_group_id), (STUDENT, m.student_id)));
        }
        for m in active_memberships!(db, school, form_student) {
            d.memberships.insert((1, m.id), ((1, m.form_group_id), (STUDENT, m.student_id)));
        }
        for m in active_memberships!(db, school, class_student) {
            d.memberships.insert((2, m.id), ((2, m.class_id), (STUDENT, m.student_id)));
        }
        for m in active_memberships!(db, school, form_tutor) {
            d.memberships.insert((3, m.id), ((1, m.form_group_id), (STAFF, m.staff_id)));
        }
        for m in active_memberships!(db, school, class_teacher) {
            d.memberships.insert((4, m.id), ((2, m.class_id), (STAFF, m.staff_id)));
        }
        for l in active_memberships!(db, school, guardian_link) {
            d.links.insert(l.id, (l.student_id, l.guardian_id, l.relationship_label.unwrap_or_default()));
        }
        Ok(d)
    }

    fn name(&self, key: Row) -> String {
        self.accounts.get(&key).map(|a| a.wonde_id.clone()).unwrap_or_default()
    }

    fn group_name(&self, key: Row) -> String {
        self.groups.get(&key).map(|g| g.0.clone()).unwrap_or_default()
    }

    fn active(&self, kind: u8) -> BTreeSet<String> {
        self.accounts
            .iter()
            .filter(|((k, _), a)| *k == kind && a.status == AccountStatus::Active)
            .map(|(_, a)| a.wonde_id.clone())
            .collect()
    }

    fn statuses(&self) -> BTreeMap<Row, AccountStatus> {
        self.accounts.iter().map(|(k, a)| (*k, a.status)).collect()
    }

    /// The directory as [`Mirror::read`] reduces it.
    fn mirror(&self) -> Mirror {
        let link = |(s, g, label): &(i32, i32, String)| {
            (self.name((STUDENT, *s)), self.name((GUARDIAN, *g)), label.clone())
        };
        Mirror {
            students: self.active(STUDENT),
            staff: self.active(STAFF),
            guardians: self.active(GUARDIAN),
            links: self.links.values().map(link).collect(),
            groups: self.groups.values().filter(|(_, active)| *active).map(|(id, _)| id.clone()).collect(),
            memberships: self
                .memberships
                .values()
                .map(|(group, member)| (self.group_name(*group), self.name(*member)))
                .collect(),
        }
    }
}

/// Where a held change's target sits in a [`Directory`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Spot {
    Account(Row),
    Group(Row),
    Membership(Row),
    Link(i32),
}

fn spot(target: HeldTarget, id: i32) -> Spot {
    match target {
        HeldTarget::Student => Spot::Account((STUDENT, id)),
        HeldTarget::Staff => Spot::Account((STAFF, id)),
        HeldTarget::Guardian => Spot::Account((GUARDIAN, id)),
        HeldTarget::YearGroup => Spot::Group((0, id)),
        HeldTarget::FormGroup => Spot::Group((1, id)),
        HeldTarget::Class => Spot::Group((2, id)),
        HeldTarget::YearGroupMembership => Spot::Membership((0, id)),
        HeldTarget::FormGroupMembership => Spot::Membership((1, id)),
        HeldTarget::ClassMembership => Spot::Membership((2, id)),
        HeldTarget::FormTutor => Spot::Membership((3, id)),
        HeldTarget::ClassTeacher => Spot::Membership((4, id)),
        HeldTarget::GuardianLink => Spot::Link(id),
    }
}

/// The school's pending held changes, target to entry id; a target is
/// never pending twice.
async fn pending(db: &DatabaseConnection, school: i32) -> anyhow::Result<BTreeMap<Spot, i32>> {
    let rows = held_change::Entity::find()
        .filter(held_change::Column::SchoolId.eq(school))
        .filter(held_change::Column::Status.eq(HeldStatus::Pending))
        .all(db)
        .await?;
    let mut out = BTreeMap::new();
    for row in rows {
        let at = spot(row.target, row.target_id);
        if let Some(other) = out.insert(at, row.id) {
            anyhow::bail!("{at:?} is held twice: entries {other} and {}", row.id);
        }
    }
    Ok(out)
}

/// The directory the MIS `truth` asks for, given the changes still
/// pending: a held account, group, membership or link keeps its state, and
/// so do the memberships and links of a held account or group (as `prev`,
/// the directory before the run, had them) while their other end stays;
/// a guardian is active exactly when a link to an active child is current.
fn expected(truth: &Mirror, prev: &Directory, now: &Directory, held: &BTreeMap<Spot, i32>) -> Mirror {
    let mut students = truth.students.clone();
    let mut staff = truth.staff.clone();
    let mut groups = truth.groups.clone();
    for at in held.keys() {
        match *at {
            Spot::Account((STUDENT, id)) => {
                students.insert(now.name((STUDENT, id)));
            }
            Spot::Account((STAFF, id)) => {
                staff.insert(now.name((STAFF, id)));
            }
            Spot::Group(key) => {
                groups.insert(now.group_name(key));
            }
            _ => {}
        }
    }
    let is_held = |at: Spot| held.contains_key(&at);
    let mut memberships = truth.memberships.clone();
    for (row, (group, member)) in &prev.memberships {
        let kept = is_held(Spot::Membership(*row))
            || is_held(Spot::Group(*group))
            || is_held(Spot::Account(*member));
        let (group, name) = (now.group_name(*group), now.name(*member));
        let stays = if member.0 == STUDENT { students.contains(&name) } else { staff.contains(&name) };
        if kept && stays && groups.contains(&group) {
            memberships.insert((group, name));
        }
    }
    let mut links = truth.links.clone();
    for (row, (s, g, label)) in &prev.links {
        let kept = is_held(Spot::Link(*row))
            || is_held(Spot::Account((STUDENT, *s)))
            || is_held(Spot::Account((GUARDIAN, *g)));
        let child = now.name((STUDENT, *s));
        if kept && students.contains(&child) {
            links.insert((child, now.name((GUARDIAN, *g)), label.clone()));
        }
    }
    Mirror {
        guardians: links.iter().map(|(_, g, _)| g.clone()).collect(),
        students,
        staff,
        links,
        groups,
        memberships,
    }
}

/// Whether the MIS agrees with a held change: its target is gone there.
fn agreed(at: Spot, now: &Directory, truth: &Mirror) -> bool {
    match at {
        Spot::Account((STUDENT, id)) => !truth.students.contains(&now.name((STUDENT, id))),
        Spot::Account((STAFF, id)) => !truth.staff.contains(&now.name((STAFF, id))),
        Spot::Account(key) => !truth.guardians.contains(&now.name(key)),
        Spot::Group(key) => !truth.groups.contains(&now.group_name(key)),
        Spot::Membership(row) => now.memberships.get(&row).is_none_or(|(group, member)| {
            !truth.memberships.contains(&(now.group_name(*group), now.name(*member)))
        }),
        Spot::Link(row) => now.links.get(&row).is_none_or(|(s, g, _)| {
            let (s, g) = (now.name((STUDENT, *s)), now.name((GUARDIAN, *g)));
            !truth.links.iter().any(|(ts, tg, _)| *ts == s && *tg == g)
        }),
    }
}

/// After a whole FULL answer, what is still pending is what the MIS
/// agrees is gone: a held target the answer lists again came back, and its
/// entry is withdrawn.
fn only_agreed(world: &World, now: &Directory, held: &BTreeMap<Spot, i32>, what: &str) -> anyhow::Result<()> {
    let truth = Mirror::of_truth_on(&world.truth(0)?, world.today());
    let back: Vec<&Spot> = held.keys().filter(|at| !agreed(**at, now, &truth)).collect();
    anyhow::ensure!(
        back.is_empty(),
        "after {what}, held changes the MIS contradicts are still pending: {back:?}"
    );
    Ok(())
}

/// The newest event's id: what a step appends comes after it.
async fn last_event(db: &DatabaseConnection) -> anyhow::Result<i64> {
    Ok(event::Entity::find().order_by_desc(event::Column::Id).one(db).await?.map_or(0, |e| e.id))
}

/// The status events appended since `mark`.
async fn status_events(db: &DatabaseConnection, school: i32, mark: i64) -> anyhow::Result<Vec<event::Model>> {
    Ok(event::Entity::find()
        .filter(event::Column::SchoolId.eq(school))
        .filter(event::Column::Id.gt(mark))
        .filter(event::Column::Kind.is_in([EventKind::Deactivated, EventKind::Reactivated]))
        .all(db)
        .await?)
}

/// A run's held counts are the entries it wrote, and a run that held
/// anything says so in one HELD event; answers how many it held.
async fn held_by(db: &DatabaseConnection, run: &sync_run::Model) -> anyhow::Result<usize> {
    let rows = held_change::Entity::find().filter(held_change::Column::SyncRunId.eq(run.id)).all(db).await?;
    let notices = event::Entity::find()
        .filter(event::Column::SyncRunId.eq(run.id))
        .filter(event::Column::Kind.eq(EventKind::Held))
        .all(db)
        .await?;
    anyhow::ensure!(
        notices.len() == usize::from(!rows.is_empty()),
        "run {} held {} changes and sent {} HELD events",
        run.id,
        rows.len(),
        notices.len()
    );
    let count = |wanted: &dyn Fn(HeldTarget) -> bool| {
        i32::try_from(rows.iter().filter(|r| wanted(r.target)).count()).unwrap_or(i32::MAX)
    };
    let students = count(&|t| t == HeldTarget::Student);
    let staff = count(&|t| t == HeldTarget::Staff);
    let guardians = count(&|t| matches!(t, HeldTarget::Guardian | HeldTarget::GuardianLink));
    let groups = count(&|t| {
        !matches!(
            t,
            HeldTarget::Student | HeldTarget::Staff | HeldTarget::Guardian | HeldTarget::GuardianLink
        )
    });
    anyhow::ensure!(
        (run.students_held, run.staff_held, run.guardians_held, run.groups_held)
            == (students, staff, guardians, groups),
        "run {} counts held (students, staff, guardians, groups) {:?} but wrote {:?}",
        run.id,
        (run.students_held, run.staff_held, run.guardians_held, run.groups_held),
        (students, staff, guardians, groups)
    );
    Ok(rows.len())
}

/// The checks after a step (a run or a decision) that began on `prev`,
/// with the event log at `mark`: the directory equals the truth but for
/// what pending held changes keep, wrong and missed deactivations are
/// counted, and each status change has exactly one event. Answers the
/// directory and the pending changes.
async fn verify(
    world: &World,
    prev: &Directory,
    mark: i64,
    what: &str,
) -> anyhow::Result<(Directory, BTreeMap<Spot, i32>)> {
    let school = world.schools[0].1.id;
    let now = Directory::read(world.db(), school).await?;
    let held = pending(world.db(), school).await?;
    let truth = Mirror::of_truth_on(&world.truth(0)?, world.today());
    let want = expected(&truth, prev, &now, &held);
    let got = now.mirror();
    let accounts = |m: &Mirror| -> BTreeSet<(u8, String)> {
        let tag = |kind: u8, ids: &BTreeSet<String>| {
            ids.iter().map(move |id| (kind, id.clone())).collect::<Vec<_>>()
        };
        [tag(STUDENT, &m.students), tag(STAFF, &m.staff), tag(GUARDIAN, &m.guardians)]
            .concat()
            .into_iter()
            .collect()
    };
    let (on_roll, kept, active) = (accounts(&truth), accounts(&want), accounts(&got));
    let deactivated: BTreeSet<(u8, String)> = now
        .accounts
        .iter()
        .filter(|(_, a)| a.status == AccountStatus::Deactivated)
        .map(|((kind, _), a)| (*kind, a.wonde_id.clone()))
        .collect();
    let wrong: Vec<_> = on_roll.intersection(&deactivated).collect();
    let missed: Vec<_> = active.difference(&kept).collect();
    WRONG.fetch_add(wrong.len(), Ordering::Relaxed);
    MISSED.fetch_add(missed.len(), Ordering::Relaxed);
    anyhow::ensure!(
        got == want,
        "after {what} the directory differs from the MIS (with {} pending held changes); \
         wrong deactivations {wrong:?}, missed {missed:?}:\n{}",
        held.len(),
        diff(&got, &want)
    );
    let before = prev.statuses();
    let changed: BTreeSet<Row> = now
        .statuses()
        .into_iter()
        .filter(|(k, s)| before.get(k).is_some_and(|b| b != s))
        .map(|(k, _)| k)
        .collect();
    let recorded: Vec<Row> = status_events(world.db(), school, mark)
        .await?
        .iter()
        .filter_map(|e| e.person_id.map(|id| (kind_code(e.person_kind), id)))
        .collect();
    let recorded_set: BTreeSet<Row> = recorded.iter().copied().collect();
    anyhow::ensure!(
        recorded.len() == recorded_set.len() && recorded_set == changed,
        "after {what}: status changes {changed:?} but events {recorded:?}"
    );
    Ok((now, held))
}

/// Takes `decision` on the pending changes `held` (after a step that left
/// the directory at `dir`), checks what it did, and answers the directory.
async fn decide(
    world: &World,
    dir: Directory,
    held: &BTreeMap<Spot, i32>,
    decision: Decision,
) -> anyhow::Result<Directory> {
    let school = world.schools[0].1.id;
    let db = world.db();
    if held.is_empty() {
        return Ok(dir);
    }
    match decision {
        Decision::Leave => {
            tally("decision: leave pending".to_owned());
            Ok(dir)
        }
        Decision::Approve => {
            let truth = Mirror::of_truth_on(&world.truth(0)?, world.today());
            let approve: BTreeMap<Spot, i32> =
                held.iter().filter(|(at, _)| agreed(**at, &dir, &truth)).map(|(at, id)| (*at, *id)).collect();
            if approve.is_empty() {
                tally("decision: approve, nothing the MIS agrees with".to_owned());
                return Ok(dir);
            }
            tally("decision: approve".to_owned());
            tally_n("held changes approved".to_owned(), approve.len());
            let mut ids: Vec<i32> = approve.values().copied().collect();
            let mark = last_event(db).await?;
            let clock = world.engine.clock.clone();
            let done =
                onroll::sync::held::approve(db, &world.engine.events, clock, school, &ids, "model").await?;
            let mut decided = done.decided.clone();
            ids.sort_unstable();
            decided.sort_unstable();
            anyhow::ensure!(
                decided == ids && done.withdrawn.is_empty() && done.skipped.is_empty(),
                "approving {ids:?}: {done:?}"
            );
            let (now, still) = verify(world, &dir, mark, "approving the held changes").await?;
            let events = status_events(db, school, mark).await?;
            for at in approve.keys() {
                anyhow::ensure!(!still.contains_key(at), "{at:?} is still pending once approved");
                let Spot::Account(key) = *at else { continue };
                let account = now.accounts.get(&key);
                anyhow::ensure!(
                    account.is_some_and(|a| a.status == AccountStatus::Deactivated),
                    "approved {key:?} is not deactivated: {account:?}"
                );
                if key.0 != GUARDIAN {
                    // A guardian may go for having no active child first;
                    // a pupil or member of staff goes as the MIS removed them.
                    let own: Vec<_> = events
                        .iter()
                        .filter(|e| e.person_id == Some(key.1) && kind_code(e.person_kind) == key.0)
                        .map(|e| (e.kind, e.reason))
                        .collect();
                    anyhow::ensure!(
                        account.is_some_and(|a| a.reason == Some(DeactivationReason::RemovedFromMis))
                            && own == [(EventKind::Deactivated, Some(DeactivationReason::RemovedFromMis))],
                        "approved {key:?}: {account:?}, events {own:?}"
                    );
                }
            }
            Ok(now)
        }
        Decision::Reject { force } => {
            tally(format!(
                "decision: reject, then a{} FULL run",
                if force { " forced" } else { "n unforced" }
            ));
            let ids: Vec<i32> = held.values().copied().collect();
            let mark = last_event(db).await?;
            let done = onroll::sync::held::reject(db, school, &ids, "model").await?;
            anyhow::ensure!(done.decided.len() == ids.len(), "rejecting {ids:?}: {done:?}");
            // Rejecting changes nobody: the accounts stay active.
            anyhow::ensure!(Directory::read(db, school).await? == dir, "rejecting changed the directory");
            anyhow::ensure!(
                status_events(db, school, mark).await?.is_empty(),
                "rejecting sent status events"
            );
            anyhow::ensure!(
                pending(db, school).await?.is_empty(),
                "entries still pending after rejecting all"
            );
            // A FULL run that still lacks them holds them again (or, few
            // enough, deactivates them); a forced one applies everything.
            let run = world.engine.run_now(school, SyncKind::Full, force).await?;
            anyhow::ensure!(run.status == SyncStatus::Completed, "FULL run after rejecting: {:?}", run.error);
            let again = held_by(db, &run).await?;
            anyhow::ensure!(!force || again == 0, "a forced run held {again} changes");
            if again > 0 {
                tally("guard trip (held again after a reject)".to_owned());
            }
            let (now, still) = verify(world, &dir, mark, "rejecting, then a FULL run").await?;
            anyhow::ensure!(!force || still.is_empty(), "pending after a forced run: {still:?}");
            only_agreed(world, &now, &still, "rejecting, then a FULL run")?;
            Ok(now)
        }
    }
}

async fn check(engine: Engine, share: f64, steps: Vec<Step>) -> anyhow::Result<()> {
    let mut world = World::start(&engine, 1, 20).await?;
    // Small pages, so that records can repeat across them.
    world.engine.client = onroll::wonde::WondeClient::new(onroll::wonde::WondeConfig {
        per_page: 7,
        ..world.engine.client.config().clone()
    })?;
    // The case's share: at 1.0 the guard never trips, below it a mass
    // deletion or an outage does.
    world.engine.guard_share = share;
    let school = world.schools[0].1.id;
    let wonde_school = world.schools[0].0.clone();
    let first = world.sync(0, SyncKind::Full).await?;
    anyhow::ensure!(first.status == SyncStatus::Completed, "first sync: {:?}", first.error);
    world.assert_mirrors(0).await?;
    let mut dir = Directory::read(world.db(), school).await?;
    // This reading is the shared one's, by row id.
    anyhow::ensure!(dir.mirror() == Mirror::read(world.db(), school).await?, "the two readings differ");
    tally(format!("guard share {share}"));
    for Step { change, full, fault, decision } in steps {
        if !apply(&world, &change)? {
            continue;
        }
        let outage = matches!(change, Change::Outage);
        // A change of MIS is followed by a FULL run, as Wonde's
        // schoolMigration webhook queues: only a complete answer can say
        // that the old keys are gone, so only it re-identifies. Under a
        // share of 1.0 the guard holds nothing, so the run of an outage is
        // INCREMENTAL there (an empty answer with no deletions: no change);
        // a FULL one would take everyone's access, as that share allows.
        let full = (full || matches!(change, Change::MigrateMis { .. })) && !(outage && share >= 1.0);
        // An outage is its own fault: nothing else goes wrong in its run.
        let fault = fault.filter(|_| !outage);
        let kind = if full { SyncKind::Full } else { SyncKind::Incremental };
        let name = format!("{change:?}");
        tally(format!("change {}", name.split(['(', ' ', '{']).next().unwrap_or_default()));
        tally(format!("run {kind:?}"));
        if let Some(fault) = &fault {
            tally(match fault {
                Fault::ErrorPage { persistent: true, .. } => "fault error page (run fails)".to_owned(),
                Fault::ErrorPage { .. } => "fault error page (retried)".to_owned(),
                Fault::RepeatedRecord { .. } => "fault record repeated across pages".to_owned(),
            });
            inject(&world, fault);
        }
        let mark = last_event(world.db()).await?;
        let mut run = world.sync(0, kind).await?;
        world.sim.clear_faults();
        let mut runs = vec![run.clone()];
        if run.status == SyncStatus::Completed
            && kind == SyncKind::Full
            && matches!(fault, Some(Fault::RepeatedRecord { .. }))
        {
            // A record seen twice means one may have been missed: that run
            // deactivates nobody for absence; the next whole run does.
            run = world.sync(0, kind).await?;
            runs.push(run.clone());
        }
        if let Some(Fault::ErrorPage { persistent: true, .. }) = &fault {
            // A broken answer fails the run and changes nobody; the next
            // run, on a whole answer, does what the change asks.
            anyhow::ensure!(run.status == SyncStatus::Failed, "{change:?} with {fault:?}: {:?}", run.status);
            anyhow::ensure!(
                Directory::read(world.db(), school).await?.statuses() == dir.statuses(),
                "{fault:?} changed statuses"
            );
            let events = status_events(world.db(), school, mark).await?;
            anyhow::ensure!(events.is_empty(), "{fault:?} sent events: {events:?}");
            run = world.sync(0, kind).await?;
            runs.push(run.clone());
        }
        if outage {
            world.sim.set_outage(&wonde_school, false)?;
        }
        anyhow::ensure!(run.status == SyncStatus::Completed, "{change:?} {fault:?}: {:?}", run.error);
        let mut held = 0;
        for run in &runs {
            held += held_by(world.db(), run).await?;
        }
        if held > 0 {
            tally("guard trip (run held changes)".to_owned());
            tally_n("changes held".to_owned(), held);
        }
        let (now, pending) = verify(&world, &dir, mark, &format!("{change:?} ({kind:?})")).await?;
        if full && !outage {
            only_agreed(&world, &now, &pending, &format!("{change:?} ({kind:?})"))?;
        }
        dir = decide(&world, now, &pending, decision).await?;
    }
    Ok(())
}

fn diff(mirror: &Mirror, truth: &Mirror) -> String {
    fn sets<T: Ord + std::fmt::Debug>(name: &str, a: &BTreeSet<T>, b: &BTreeSet<T>) -> String {
        let extra: Vec<_> = a.difference(b).collect();
        let missing: Vec<_> = b.difference(a).collect();
        if extra.is_empty() && missing.is_empty() {
            String::new()
        } else {
            format!("{name}: extra {extra:?} missing {missing:?}\n")
        }
    }
    [
        sets("students", &mirror.students, &truth.students),
        sets("staff", &mirror.staff, &truth.staff),
        sets("guardians", &mirror.guardians, &truth.guardians),
        sets("links", &mirror.links, &truth.links),
        sets("groups", &mirror.groups, &truth.groups),
        sets("memberships", &mirror.memberships, &truth.memberships),
    ]
    .concat()
}

fn run_property(engine: Engine, cases: u32) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, rng());
    let strategy = (guard_share(), proptest::collection::vec(step(), 1..6));
    let outcome = runner
        .run(&strategy, |(share, steps)| {
            runtime
                .block_on(check(engine.clone(), share, steps))
                .map_err(|err| TestCaseError::fail(format!("{err:#}")))
        })
        .map_err(|err| anyhow::anyhow!("{err}"));
    let (wrong, missed) = (WRONG.load(Ordering::Relaxed), MISSED.load(Ordering::Relaxed));
    if let Ok(drawn) = DRAWN.lock() {
        let sum =
            |prefix: &str| drawn.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, n)| n).sum::<usize>();
        eprintln!(
            "model-based test on {engine:?}: {cases} cases; wrong deactivations {wrong}, missed {missed}; \
             guard trips {}, approvals {}, rejections {}; drawn and run: {drawn:?}",
            sum("guard trip"),
            drawn.get("decision: approve").copied().unwrap_or_default(),
            sum("decision: reject")
        );
    }
    outcome?;
    anyhow::ensure!(wrong == 0 && missed == 0, "{wrong} wrong and {missed} missed deactivations");
    Ok(())
}

/// The cases' random source: fixed, so that CI runs the same cases on
/// every build and a failure reproduces; `ONROLL_PROPTEST_SEED` (a number)
/// draws others, as exploring by hand should.
fn rng() -> proptest::test_runner::TestRng {
    use proptest::test_runner::{RngAlgorithm, TestRng};
    let seed: u64 =
        std::env::var("ONROLL_PROPTEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20_261_129);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// 200 cases by default; `ONROLL_PROPTEST_CASES` asks for more or fewer.
fn cases(default: u32) -> u32 {
    std::env::var("ONROLL_PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(default)
}

#[test]
fn directory_follows_random_mis_changes_sqlite() -> anyhow::Result<()> {
    run_property(Engine::Sqlite, cases(200))
}

#[test]
#[cfg_attr(not(postgres_suite), ignore = "PostgreSQL suite: set ONROLL_TEST_DATABASE_URL")]
fn directory_follows_random_mis_changes_postgres() -> anyhow::Result<()> {
    // Each case makes a schema and migrates it: fewer cases keep the suite
    // inside its time budget; SQLite runs the full 200.
    run_property(Engine::postgres()?, cases(40).min(40))
}

/// A case the model drew once (FULL outage held and left pending, a pupil
/// re-enrols, then the admin approves what the MIS agrees with): approving
/// the held guardians deactivated them but left their links to the
/// re-enrolled pupil current, because a deletion (and so an approval)
/// carries no links and a removed guardian kept those the batch did not
/// speak for. Kept as a regression test on both engines.
fn outage_left_pending_then_a_re_enrolment_then_approval(engine: Engine) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let steps = vec![
        Step { change: Change::Outage, full: true, fault: None, decision: Decision::Leave },
        Step {
            change: Change::ReEnrol(10045868120260239552),
            full: false,
            fault: None,
            decision: Decision::Approve,
        },
    ];
    runtime.block_on(check(engine, 0.5, steps))
}

#[test]
fn outage_left_pending_then_a_re_enrolment_then_approval_sqlite() -> anyhow::Result<()> {
    outage_left_pending_then_a_re_enrolment_then_approval(Engine::Sqlite)
}

#[test]
#[cfg_attr(not(postgres_suite), ignore = "PostgreSQL suite: set ONROLL_TEST_DATABASE_URL")]
fn outage_left_pending_then_a_re_enrolment_then_approval_postgres() -> anyhow::Result<()> {
    outage_left_pending_then_a_re_enrolment_then_approval(Engine::postgres()?)
}

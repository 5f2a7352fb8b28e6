//! When a school is due a sync: FULL weekly and INCREMENTAL several times a
//! day by default, per connection overridable, `0` turning one off. Only
//! APPROVED connections are scheduled; a school whose last run failed waits
//! a little before the next try, so a broken MIS is not hammered.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::enums::{ConnectionStatus, HeldEvidence, HeldStatus, SyncKind, SyncStatus};
use entity::{held_change, school, sync_run, trust, wonde_connection};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use std::collections::{HashMap, HashSet};

use super::runs;
use crate::school_day;

/// How often each kind of run is due; `None` is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub full_every: Option<Duration>,
    pub incremental_every: Option<Duration>,
    /// The wait after a failed run before the schedule tries again.
    pub retry_after_failure: Duration,
    /// The wait after a FULL run whose answer the guard doubted (it held
    /// changes) before a FULL run checks again: such a run moves neither
    /// the watermark nor `last_full_sync_at` (see `engine`), so without
    /// this wait a FULL would be due at every tick.
    pub recheck_after_held: Duration,
    /// Runs of different schools the worker lets page through Wonde side
    /// by side (at least one); as many more (two at most) are under way
    /// beside them, waiting to page or writing (`SyncEngine::drain_queue`).
    pub runs_at_once: usize,
}

/// Two: on a machine of two cores, a 20-school trust's FULL runs took a
/// quarter less time two at a time than one at a time, on SQLite and on
/// PostgreSQL, and three at a time gained nothing more
/// (`BENCH_SCHOOLS=20 BENCH_RUNS_AT_ONCE=1|2|3 cargo bench --bench sync_full`).
pub const DEFAULT_RUNS_AT_ONCE: usize = 2;

impl Default for Schedule {
    fn default() -> Self {
        Self {
            full_every: Some(Duration::days(7)),
            incremental_every: Some(Duration::hours(4)),
            retry_after_failure: Duration::minutes(15),
            recheck_after_held: Duration::hours(1),
            runs_at_once: DEFAULT_RUNS_AT_ONCE,
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a duration: use a number with s, m, h or d (\"4h\", \"7d\"), or 0 for off")]
pub struct BadDuration(String);

/// Parses "45s", "30m", "4h", "7d"; "0" means off (`None`).
pub fn parse_every(text: &str) -> Result<Option<Duration>, BadDuration> {
    let text = text.trim();
    if text == "0" {
        return Ok(None);
    }
    let bad = || BadDuration(text.to_owned());
    let unit = text.chars().last().ok_or_else(bad)?;
    let number: i64 = text[..text.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    if number <= 0 {
        return Err(bad());
    }
    let duration = match unit {
        's' => Duration::seconds(number),
        'm' => Duration::minutes(number),
        'h' => Duration::hours(number),
        'd' => Duration::days(number),
        _ => return Err(bad()),
    };
    Ok(Some(duration))
}

/// Which kind of run a connection is due, if any, at `now`. `last_failure`:
/// when the school's last run failed; `doubted_full`: when the school has
/// changes held from a FULL answer the guard doubted, the end of its last
/// FULL run (see [`doubted_full`]).
pub fn due(
    schedule: &Schedule,
    connection: &wonde_connection::Model,
    last_failure: Option<DateTime<Utc>>,
    doubted_full: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<SyncKind> {
    if connection.status != ConnectionStatus::Approved || connection.token_ciphertext.is_none() {
        return None;
    }
    if last_failure.is_some_and(|at| now - at < schedule.retry_after_failure) {
        return None;
    }
    let every = |own: Option<i64>, default: Option<Duration>| match own {
        Some(0) => None,
        Some(seconds) => Some(Duration::seconds(seconds)),
        None => default,
    };
    let overdue = |last: Option<DateTime<Utc>>, every: Option<Duration>| {
        every.is_some_and(|every| last.is_none_or(|last| now - last >= every))
    };
    let full = every(connection.full_every_secs, schedule.full_every);
    // Changes held from a doubted FULL answer are checked again by a FULL
    // run within the hour, whatever the week's cadence; meanwhile no FULL.
    let rechecking = match doubted_full {
        Some(at) if now - at >= schedule.recheck_after_held => return Some(SyncKind::Full),
        Some(_) => true,
        None => false,
    };
    // A school never fully synced gets a FULL run first, whatever the schedule.
    if !rechecking && (connection.last_full_sync_at.is_none() || overdue(connection.last_full_sync_at, full))
    {
        return Some(SyncKind::Full);
    }
    let incremental = every(connection.incremental_every_secs, schedule.incremental_every);
    let last_any = connection.last_incremental_sync_at.max(connection.last_full_sync_at);
    overdue(last_any, incremental).then_some(SyncKind::Incremental)
}

/// When the school has changes held from an answer the guard doubted in a
/// complete fetch (absence, or lists that no longer hold someone), the end
/// of its last FULL run: such an answer is re-checked by a FULL run (see
/// [`due`]). `None` when nothing of the kind waits.
pub async fn doubted_full<C: ConnectionTrait>(
    db: &C,
    school_id: i32,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let waiting = held_change::Entity::find()
        .filter(held_change::Column::SchoolId.eq(school_id))
        .filter(held_change::Column::Status.eq(HeldStatus::Pending))
        .filter(
            held_change::Column::Evidence.is_in([HeldEvidence::AbsentFromFullFetch, HeldEvidence::NotListed]),
        )
        .one(db)
        .await?;
    if waiting.is_none() {
        return Ok(None);
    }
    let last_full = sync_run::Entity::find()
        .filter(sync_run::Column::SchoolId.eq(school_id))
        .filter(sync_run::Column::Kind.eq(SyncKind::Full))
        .filter(sync_run::Column::Status.eq(SyncStatus::Completed))
        .order_by_desc(sync_run::Column::Id)
        .one(db)
        .await?;
    Ok(last_full.and_then(|run| run.finished_at).or(Some(DateTime::<Utc>::MIN_UTC)))
}

/// Queues the daily sweep of every school whose day has begun since its
/// last completed run (any run sweeps; see [`super::apply`]): stored
/// leaving dates and employment end dates that came overnight take effect
/// at the start of the school's day, in its own time zone, whether or not
/// Wonde answers. Returns how many were newly queued.
pub async fn queue_sweeps<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    now: DateTime<Utc>,
    retry_after_failure: Duration,
) -> Result<usize, DbErr> {
    let trust_zones: HashMap<i32, Option<String>> =
        trust::Entity::find().all(db).await?.into_iter().map(|t| (t.id, t.timezone)).collect();
    // A sweep that failed waits like any failed run before it is tried
    // again, rather than failing at every tick.
    let failed_recently: HashSet<i32> = sync_run::Entity::find()
        .select_only()
        .column(sync_run::Column::SchoolId)
        .filter(sync_run::Column::Kind.eq(SyncKind::Sweep))
        .filter(sync_run::Column::Status.eq(SyncStatus::Failed))
        .filter(sync_run::Column::FinishedAt.gt(now - retry_after_failure))
        .into_tuple()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let mut queued = 0;
    for school in school::Entity::find().all(db).await? {
        let trust_zone = trust_zones.get(&school.trust_id).cloned().flatten();
        let today =
            school_day::today(school_day::zone(school.timezone.as_deref(), trust_zone.as_deref()), now);
        if sweep_due(school.swept_on.as_deref(), today) && !failed_recently.contains(&school.id) {
            queued += usize::from(runs::enqueue(db, school.id, SyncKind::Sweep, false).await?.1);
        }
    }
    Ok(queued)
}

/// Whether a school last swept on `swept_on` (YYYY-MM-DD) is due on `today`.
/// A school no run has completed for holds no dates to sweep: its first
/// run (FULL, or a CSV import) comes first.
pub fn sweep_due(swept_on: Option<&str>, today: NaiveDate) -> bool {
    swept_on.and_then(|d| d.parse::<NaiveDate>().ok()).is_some_and(|last| last < today)
}

/// Queues every due run; returns how many were newly queued.
pub async fn queue_due<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    schedule: &Schedule,
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    let connections = wonde_connection::Entity::find()
        .filter(wonde_connection::Column::Status.eq(ConnectionStatus::Approved))
        .all(db)
        .await?;
    let mut queued = 0;
    for connection in connections {
        // A failed sweep says nothing about Wonde: it must not hold back
        // the Wonde runs that bring the day's other leavers.
        let last = sync_run::Entity::find()
            .filter(sync_run::Column::SchoolId.eq(connection.school_id))
            .filter(sync_run::Column::Kind.ne(SyncKind::Sweep))
            .order_by_desc(sync_run::Column::Id)
            .one(db)
            .await?;
        let last_failure = last
            .as_ref()
            .filter(|r| r.status == SyncStatus::Failed && !runs::was_abandoned(r))
            .and_then(|r| r.finished_at);
        let doubted_full = doubted_full(db, connection.school_id).await?;
        if let Some(kind) = due(schedule, &connection, last_failure, doubted_full, now) {
            queued += usize::from(runs::enqueue(db, connection.school_id, kind, false).await?.1);
        }
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(
        last_full: Option<i64>,
        last_incremental: Option<i64>,
        now: DateTime<Utc>,
    ) -> wonde_connection::Model {
        wonde_connection::Model {
            id: 1,
            school_id: 1,
            status: ConnectionStatus::Approved,
            wonde_school_id: "A1".into(),
            region_domain: None,
            token_ciphertext: Some("sealed".into()),
            sync_students: true,
            sync_staff: true,
            sync_guardians: true,
            sync_classes: true,
            sync_year_groups: true,
            sync_form_groups: true,
            full_every_secs: None,
            incremental_every_secs: None,
            watermark: None,
            last_full_sync_at: last_full.map(|h| now - Duration::hours(h)),
            last_incremental_sync_at: last_incremental.map(|h| now - Duration::hours(h)),
            status_reason: None,
            requested_by_token_id: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_sweep_is_due_once_a_day() {
        let day = |d: &str| d.parse::<NaiveDate>().unwrap_or_default();
        assert!(!sweep_due(None, day("2026-07-01")));
        assert!(sweep_due(Some("2026-06-30"), day("2026-07-01")));
        assert!(!sweep_due(Some("2026-07-01"), day("2026-07-01")));
        // A clock moved back does not sweep again.
        assert!(!sweep_due(Some("2026-07-02"), day("2026-07-01")));
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_every("7d"), Ok(Some(Duration::days(7))));
        assert_eq!(parse_every(" 4h "), Ok(Some(Duration::hours(4))));
        assert_eq!(parse_every("0"), Ok(None));
        for bad in ["", "h", "4", "-1h", "4w", "1.5h"] {
            assert!(parse_every(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn full_first_then_incremental_by_the_clock() {
        let now = Utc::now();
        let s = Schedule::default();
        assert_eq!(due(&s, &connection(None, None, now), None, None, now), Some(SyncKind::Full));
        assert_eq!(due(&s, &connection(Some(1), None, now), None, None, now), None);
        assert_eq!(due(&s, &connection(Some(5), None, now), None, None, now), Some(SyncKind::Incremental));
        assert_eq!(due(&s, &connection(Some(30), Some(1), now), None, None, now), None);
        assert_eq!(due(&s, &connection(Some(24 * 8), Some(1), now), None, None, now), Some(SyncKind::Full));
        // Off, and waiting after a failure.
        let off = Schedule { incremental_every: None, ..s };
        assert_eq!(due(&off, &connection(Some(5), None, now), None, None, now), None);
        let failed = Some(now - Duration::minutes(1));
        assert_eq!(due(&s, &connection(Some(5), None, now), failed, None, now), None);
        // After a doubted FULL run (its last_full_sync_at stays where it
        // was): no FULL for an hour, incremental runs meanwhile, then FULL.
        let stale = connection(Some(24 * 8), Some(5), now);
        let doubted = Some(now - Duration::minutes(10));
        assert_eq!(due(&s, &stale, None, doubted, now), Some(SyncKind::Incremental));
        assert_eq!(due(&s, &connection(Some(24 * 8), Some(1), now), None, doubted, now), None);
        assert_eq!(due(&s, &stale, None, Some(now - Duration::hours(2)), now), Some(SyncKind::Full));
        // Even when the week's FULL run is recent.
        let recent = connection(Some(1), Some(1), now);
        assert_eq!(due(&s, &recent, None, Some(now - Duration::hours(2)), now), Some(SyncKind::Full));
        let mut revoked = connection(None, None, now);
        revoked.status = ConnectionStatus::Revoked;
        assert_eq!(due(&s, &revoked, None, None, now), None);
    }
}

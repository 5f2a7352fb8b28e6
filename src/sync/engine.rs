//! Running one Wonde sync: fetch everything first, then apply it (see
//! [`super::apply`]: one transaction that also marks the run COMPLETED and
//! moves the watermark; events published after the commit).

use chrono::{Duration, Utc};
use entity::enums::{ConnectionStatus, SyncKind};
use entity::{school, sync_run, wonde_connection};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::analyze::Deferred;
use super::apply::{Failure, apply, conclude};
use super::monitor::RunMonitor;
use super::progress::Progress;
use super::rekeyed::fetch_for_run;
use super::runs;
use super::source::{Batch, DataTypes};
use super::wonde_source::{FetchError, FetchPlan};
use crate::crypto::SecretKey;
use crate::events::EventBus;
use crate::school_day::{self, Clock};
use crate::wonde::{SchoolAccess, SecretToken, WondeClient};
use tracing::Instrument;

/// An incremental run asks for changes since a little before the last
/// watermark, so a clock skew between Wonde and us loses nothing.
pub(crate) const WATERMARK_OVERLAP: Duration = Duration::minutes(5);

/// How often a drain with a free place reads the queue again: a run
/// queued meanwhile starts within this, not when a run ends.
pub const QUEUE_RECHECK: std::time::Duration = std::time::Duration::from_millis(250);

/// The places a run of [`SyncEngine::drain_queue`] waits for: one to page
/// through Wonde, given back when its paging ends, and one to write; and
/// where the tables it changed wait to be analysed with the drain's other
/// runs'. A run started on its own waits for neither, and its tables are
/// analysed once it commits.
#[derive(Default)]
struct Places {
    paging: Option<Arc<Semaphore>>,
    writing: Option<Arc<Semaphore>>,
    statistics: Option<Arc<Deferred>>,
}

/// Waits for a place of `places`, held until the answer drops; at once
/// when there is none to wait for.
async fn wait_for(places: Option<&Arc<Semaphore>>) -> Option<OwnedSemaphorePermit> {
    // The semaphores are never closed, so acquiring only waits.
    places?.clone().acquire_owned().await.ok()
}

/// Everything a sync needs; shared by the scheduler, the API and the CLI.
#[derive(Clone)]
pub struct SyncEngine {
    pub db: DatabaseConnection,
    pub key: SecretKey,
    pub events: EventBus,
    pub client: WondeClient,
    /// The mass-deactivation guard's share (0.5 by default).
    pub guard_share: f64,
    /// Names this process in `sync_run.claimed_by`.
    pub worker: String,
    /// The clock leaving dates are judged by (the system clock, unless a
    /// test moves it); see [`crate::school_day`].
    pub clock: Clock,
}

impl SyncEngine {
    /// Queues a run (or finds the open one), claims it and runs it now.
    /// When another process holds the school's open run, that run is
    /// returned as it stands.
    pub async fn run_now(
        &self,
        school_id: i32,
        kind: SyncKind,
        force: bool,
    ) -> Result<sync_run::Model, DbErr> {
        let (run, _) = runs::enqueue(&self.db, school_id, kind, force).await?;
        Ok(self.claim_and_execute(run.id, Places::default()).await?.unwrap_or(run))
    }

    /// Claims a queued run and runs it; `None` when another process has it.
    /// The liveness lock is taken before the claim, so a running run always
    /// has a live holder.
    async fn claim_and_execute(&self, run_id: i32, places: Places) -> Result<Option<sync_run::Model>, DbErr> {
        let Some(liveness) = runs::Liveness::take(&self.db, run_id).await? else { return Ok(None) };
        let finished = match runs::claim(&self.db, run_id, &self.worker).await {
            Ok(Some(claimed)) => self.execute_in(claimed, places).await.map(Some),
            Ok(None) => Ok(None),
            Err(err) => Err(err),
        };
        liveness.release().await;
        finished
    }

    /// Claims and runs queued runs, oldest first, until none is left;
    /// returns how many ran. `at_once` (at least one) runs page through
    /// Wonde at a time, and as many more (two at most) are under way beside
    /// them: each claims its run and reads its school's record, then waits
    /// for a place to page, and a run gives its place to the next as soon
    /// as its paging ends, before it writes. So the Wonde lanes never wait for a write
    /// (issue 15: a school's write kept its lane idle for as long as it
    /// took; on SQLite, where one connection writes at a time, so did the
    /// next run's claim). At most `at_once` runs write at a time, each in
    /// its own transaction; a run under way holds at most two pooled
    /// connections at once on PostgreSQL (its liveness lock's, and one to
    /// report, claim or write) and one on SQLite (`config::MAX_RUNS_AT_ONCE`,
    /// `db::connect`). No more than two runs more than `at_once`: each run
    /// under way may wait on the database's writer with a pooled
    /// connection, and the API needs the rest; with one more only, a lane
    /// again waited for a write on SQLite (the next run's claim did). A school has one open run at most (`runs::enqueue`), so runs
    /// side by side are of different schools and touch different rows. The
    /// queue is read again whenever a run ends, and every [`QUEUE_RECHECK`]
    /// while a place is free, so a run queued meanwhile (a leaver's
    /// `triggerSync`, a webhook) takes the next free place, not one after
    /// every run queued before it has ended. After a database error no run
    /// is started, but those under way finish (a run cut off half way would
    /// be left RUNNING); then the first error is returned. The tables the
    /// drain's runs changed are analysed together on PostgreSQL, once none
    /// of them is under way (`analyze::Deferred`).
    pub async fn drain_queue(&self, at_once: usize) -> Result<usize, DbErr> {
        let at_once = at_once.max(1);
        let under_way = at_once + at_once.min(2);
        let paging = Arc::new(Semaphore::new(at_once));
        let writing = Arc::new(Semaphore::new(at_once));
        let statistics = Arc::new(Deferred::default());
        let mut running = FuturesUnordered::new();
        // Runs this drain has tried, won or not: each is tried once.
        let mut tried = HashSet::new();
        let mut ran = 0;
        let mut failed = None;
        loop {
            if failed.is_none() && running.len() < under_way {
                match runs::queued(&self.db).await {
                    Ok(queued) => {
                        let free = under_way - running.len();
                        for run in queued.into_iter().filter(|run| tried.insert(run.id)).take(free) {
                            let places = Places {
                                paging: Some(paging.clone()),
                                writing: Some(writing.clone()),
                                statistics: Some(statistics.clone()),
                            };
                            running.push(self.claim_and_execute(run.id, places));
                        }
                    }
                    Err(err) => failed = Some(err),
                }
            }
            let ended = if running.is_empty() {
                running.next().await
            } else {
                // Wake every QUEUE_RECHECK while runs are under way, not only
                // when one ends: a place may be free for a run queued
                // meanwhile, and tables may have waited MAX_DEFER for their
                // analysis while a long run goes on.
                tokio::select! {
                    ended = running.next() => ended,
                    () = tokio::time::sleep(QUEUE_RECHECK) => {
                        statistics.analyse_if(&self.db, false);
                        continue;
                    }
                }
            };
            match ended {
                None => break,
                Some(Ok(Some(_))) => ran += 1,
                Some(Ok(None)) => {}
                Some(Err(err)) => {
                    failed.get_or_insert(err);
                }
            }
            statistics.analyse_if(&self.db, running.is_empty());
        }
        statistics.analyse_if(&self.db, true);
        match failed {
            Some(err) => Err(err),
            None => Ok(ran),
        }
    }

    /// Runs a claimed run to its end. Failures of the run (Wonde, the
    /// guard, a cancel) end it FAILED or CANCELLED; only a failure to record
    /// that is an error here.
    pub async fn execute(&self, run: sync_run::Model) -> Result<sync_run::Model, DbErr> {
        self.execute_in(run, Places::default()).await
    }

    /// [`Self::execute`] in the places a drain gave the run.
    async fn execute_in(&self, run: sync_run::Model, places: Places) -> Result<sync_run::Model, DbErr> {
        // The attempt opens the run's progress once it knows the school; the
        // end is reported through the same one, so it keeps the run's count.
        let mut progress = None;
        // Every line the run logs, its Wonde requests' included, names the
        // run: a trace of one run is a filter on `sync.run_id`.
        let span = tracing::info_span!(
            "sync.run",
            sync.run_id = run.id,
            school.id = run.school_id,
            sync.kind = run.kind.as_str()
        );
        async {
            let attempt = self.attempt(&run, &mut progress, &places).await;
            conclude(&self.db, &self.events, &run, attempt, progress).await
        }
        .instrument(span)
        .await
    }

    async fn attempt(
        &self,
        run: &sync_run::Model,
        progress: &mut Option<Progress>,
        places: &Places,
    ) -> Result<(), Failure> {
        let school = school::Entity::find_by_id(run.school_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| Failure::Run("the school no longer exists".to_owned()))?;
        if run.kind == SyncKind::Sweep {
            // A sweep fetches nothing: it only writes.
            let _writing = wait_for(places.writing.as_ref()).await;
            return self.sweep(run, &school, progress).await;
        }
        let (connection, access) = self.access(&school).await?;
        let started = Utc::now();
        // Without a watermark there is nothing to be incremental from.
        let complete = run.kind == SyncKind::Full || connection.watermark.is_none();
        let progress = progress.insert(Progress::new(
            self.db.clone(),
            self.events.clone(),
            school.trust_id,
            school.id,
            run.id,
        ));
        let mut monitor = RunMonitor::new(self.db.clone(), run.id, progress);
        monitor.report("fetching").await?;
        // A FULL run reads the school's own record again first: its time
        // zone decides the school's today.
        let school = if complete { self.refresh_school(&access, school).await? } else { school };
        let today = school_day::today(school_day::school_zone(&self.db, &school).await?, self.clock.now());
        let plan = FetchPlan {
            complete,
            since: connection.watermark.map(|w| w - WATERMARK_OVERLAP),
            types: data_types(&connection),
            today,
        };
        let paging = wait_for(places.paging.as_ref()).await;
        let fetched =
            phase("fetch", fetch_for_run(&self.client, &access, &self.db, school.id, plan, &mut monitor))
                .await;
        let batch = match fetched {
            Ok(batch) => batch,
            Err(err) => {
                // The pages read are reported, and the reporter done, before
                // the run's end is: the end must be the run's last event,
                // with its whole count. The run fails whatever this says.
                let _reported = monitor.flush().await;
                return Err(err.into());
            }
        };
        // An incremental answer that re-keyed pupils on roll was read whole.
        let complete = batch.complete;
        // Wonde is done with: the next run may page while this one writes.
        drop(paging);
        let _writing = wait_for(places.writing.as_ref()).await;
        monitor.report("applying").await?;

        let applied = phase("apply", apply(&self.db, run, &school, &batch, self.guard_share, today)).await?;
        let mut row: wonde_connection::ActiveModel = connection.into();
        if complete && applied.held() > 0 {
            // The guard doubted this answer: it may be missing what it
            // should hold (an outage answers empty leavers lists too). So it
            // is no baseline: the next incremental runs ask again from the
            // last trusted one, and a FULL run checks again within the hour
            // (`Schedule::recheck_after_held`).
            tracing::warn!(
                sync.run_id = run.id,
                school.id = school.id,
                held = applied.held(),
                "FULL answer doubted"
            );
        } else {
            // A fetch that may have missed records (a repeat, a listing cut
            // short) is no baseline: the next INCREMENTAL run asks again
            // from the last whole one, so no change is passed over. The
            // cadence still moves, or the same run would be due at once.
            if batch.is_whole() {
                row.watermark = Set(Some(started));
            } else {
                tracing::warn!(
                    sync.run_id = run.id,
                    school.id = school.id,
                    "fetch not whole; watermark kept"
                );
            }
            if complete {
                row.last_full_sync_at = Set(Some(started));
            } else {
                row.last_incremental_sync_at = Set(Some(started));
            }
        }
        row.updated_at = Set(Utc::now());
        phase("commit", async {
            row.update(applied.txn()).await?;
            applied.commit(&self.events, run, places.statistics.as_deref()).await
        })
        .await?;
        Ok(())
    }
}

/// Runs one phase of a run (`fetch`, `apply`, `commit`) in its own span,
/// and logs how long it took: where a slow run's time went.
async fn phase<T, E>(name: &'static str, work: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    let started = std::time::Instant::now();
    let span = tracing::info_span!("sync.phase", sync.phase = name);
    let result = work.instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(
            took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            ok = result.is_ok(),
            "phase ended"
        );
    });
    result
}

impl SyncEngine {
    /// The school's approved Wonde connection and the access it holds.
    pub(super) async fn access(
        &self,
        school: &school::Model,
    ) -> Result<(wonde_connection::Model, SchoolAccess), Failure> {
        let connection = wonde_connection::Entity::find()
            .filter(wonde_connection::Column::SchoolId.eq(school.id))
            .one(&self.db)
            .await?
            .ok_or_else(|| Failure::Run("the school is not connected to Wonde".to_owned()))?;
        if connection.status != ConnectionStatus::Approved {
            return Err(Failure::Run(format!(
                "the school's Wonde access is {}, not APPROVED",
                connection.status.as_str()
            )));
        }
        let sealed = connection
            .token_ciphertext
            .as_deref()
            .ok_or_else(|| Failure::Run("no Wonde token is held for the school".to_owned()))?;
        let token = self.key.decrypt(sealed).map_err(|err| Failure::Run(err.to_string()))?;
        let mut access = SchoolAccess::new(connection.wonde_school_id.clone(), SecretToken::new(token));
        access.region_domain = connection.region_domain.clone();
        Ok((connection, access))
    }

    /// The daily sweep: no fetch, an empty batch applied, so that leaving
    /// dates and employment end dates that have come by the school's today
    /// take effect with the whole cascade and their events. It needs no
    /// Wonde connection (CSV schools are swept too).
    async fn sweep(
        &self,
        run: &sync_run::Model,
        school: &school::Model,
        progress: &mut Option<Progress>,
    ) -> Result<(), Failure> {
        *progress =
            Some(Progress::new(self.db.clone(), self.events.clone(), school.trust_id, school.id, run.id));
        let today = school_day::today(school_day::school_zone(&self.db, school).await?, self.clock.now());
        let batch = Batch::new(false, DataTypes::ALL);
        let applied = apply(&self.db, run, school, &batch, self.guard_share, today).await?;
        // An empty batch speaks for no table: nothing to analyse.
        applied.commit(&self.events, run, None).await?;
        Ok(())
    }

    /// Reads the school's record from Wonde and keeps its time zone.
    async fn refresh_school(
        &self,
        access: &SchoolAccess,
        school: school::Model,
    ) -> Result<school::Model, Failure> {
        let details = self.client.school(access).await.map_err(FetchError::from)?;
        let zone = school_day::zone_name(details.timezone.as_deref());
        if zone == school.timezone {
            return Ok(school);
        }
        let mut row: school::ActiveModel = school.into();
        row.timezone = Set(zone);
        Ok(row.update(&self.db).await?)
    }
}

pub(super) fn data_types(connection: &wonde_connection::Model) -> DataTypes {
    DataTypes {
        students: connection.sync_students,
        staff: connection.sync_staff,
        guardians: connection.sync_guardians && connection.sync_students,
        classes: connection.sync_classes,
        year_groups: connection.sync_year_groups,
        form_groups: connection.sync_form_groups,
    }
}

impl From<FetchError> for Failure {
    fn from(err: FetchError) -> Self {
        match err {
            FetchError::Interrupted(interrupted) => interrupted.into(),
            FetchError::Database(err) => Self::Database(err),
            FetchError::Wonde(err) => {
                Self::Run(format!("Wonde could not be read; nothing was changed: {err}"))
            }
        }
    }
}

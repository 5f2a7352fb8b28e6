//! Wonde connections and sync runs.

use crate::graphql::scalars::DateTime;
use async_graphql::{Context, ID, Object, SimpleObject};
use entity::{sync_run, wonde_connection};

use super::{School, required};
use crate::error::ResultExt;
use crate::graphql::RequestContext;
use crate::graphql::enums::{ConnectionStatus, SyncKind, SyncStatus};
use crate::graphql::ids::{NodeType, encode};

/// A school's access to Wonde. The token itself is never exposed.
pub struct WondeConnection(pub wonde_connection::Model);

#[Object]
impl WondeConnection {
    async fn status(&self) -> ConnectionStatus {
        self.0.status.into()
    }

    /// Why the connection is DECLINED or REVOKED, in Wonde's words.
    async fn status_reason(&self) -> Option<&str> {
        self.0.status_reason.as_deref()
    }

    async fn wonde_school_id(&self) -> &str {
        &self.0.wonde_school_id
    }

    async fn options(&self) -> SyncOptions {
        SyncOptions {
            students: self.0.sync_students,
            staff: self.0.sync_staff,
            guardians: self.0.sync_guardians,
            classes: self.0.sync_classes,
            year_groups: self.0.sync_year_groups,
            form_groups: self.0.sync_form_groups,
        }
    }

    async fn last_full_sync_at(&self) -> Option<DateTime> {
        self.0.last_full_sync_at.map(DateTime)
    }

    async fn last_incremental_sync_at(&self) -> Option<DateTime> {
        self.0.last_incremental_sync_at.map(DateTime)
    }

    async fn latest_run(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<SyncRun>> {
        let rc = RequestContext::of(ctx)?;
        Ok(rc.loaders.latest_runs.load_one(self.0.school_id).await.gql()?.map(SyncRun))
    }
}

/// Which data types sync for a school.
#[derive(SimpleObject, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncOptions {
    pub students: bool,
    pub staff: bool,
    pub guardians: bool,
    pub classes: bool,
    pub year_groups: bool,
    pub form_groups: bool,
}

#[derive(SimpleObject, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncCounts {
    /// Accounts (or groups) the run created.
    pub created: i32,
    /// Accounts whose fields the run changed.
    pub updated: i32,
    /// Accounts the run took access from.
    pub deactivated: i32,
    /// Accounts the run gave access back to.
    pub reactivated: i32,
    /// Existing accounts the run recognised under a new MIS key (a school
    /// that changed MIS: students by UPN, guardians by email or by name and
    /// child, staff by UPI then email). They keep their ID and status; no
    /// event is sent for them. Always 0 for groups.
    pub reidentified: i32,
    /// Changes the mass-deactivation guard held for a decision instead of
    /// applying them (see `heldChanges`): accounts; for guardians also
    /// their links; for groups also memberships.
    pub held: i32,
}

pub struct SyncRun(pub sync_run::Model);

impl SyncRun {
    /// The run `id` names, when there is one and the viewer sees it: the
    /// `syncRun` of what a run wrote (an event, a finding, a held change).
    pub(crate) async fn of(ctx: &Context<'_>, id: Option<i32>) -> async_graphql::Result<Option<Self>> {
        let Some(id) = id else { return Ok(None) };
        let rc = RequestContext::of(ctx)?;
        Ok(rc.loaders.sync_runs.load_one(id).await.gql()?.map(Self))
    }
}

#[Object]
impl SyncRun {
    pub async fn id(&self, _ctx: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(encode(NodeType::SyncRun, self.0.id))
    }

    async fn school(&self, ctx: &Context<'_>) -> async_graphql::Result<School> {
        let rc = RequestContext::of(ctx)?;
        required(rc.loaders.schools.load_one(self.0.school_id).await, "run without school").map(School)
    }

    async fn kind(&self) -> SyncKind {
        self.0.kind.into()
    }

    async fn status(&self) -> SyncStatus {
        self.0.status.into()
    }

    async fn queued_at(&self) -> DateTime {
        DateTime(self.0.queued_at)
    }

    async fn started_at(&self) -> Option<DateTime> {
        self.0.started_at.map(DateTime)
    }

    async fn finished_at(&self) -> Option<DateTime> {
        self.0.finished_at.map(DateTime)
    }

    /// Why the run failed, in words meant for an administrator: never
    /// database or driver text (a database failure names the run, whose
    /// details are in the server's log).
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }

    /// What a completed run worked around without failing, one sentence
    /// each; empty when nothing. In order: that an INCREMENTAL run read the
    /// whole school (its answer gave pupils on roll new ids: a change of
    /// MIS); listings cut short (a page the one before promised came back
    /// empty); records that could not be read (Wonde id, field and what was
    /// wrong, never the value; at most 100); records repeated in one fetch
    /// ("students: record A123 appeared twice in one fetch and was taken
    /// once"; at most 100, and a count of the rest). After any but the
    /// first, nobody missing from that listing was taken for gone and the
    /// watermark stayed (product.md, Sync; docs/real-world-data.md).
    async fn warnings(&self) -> Vec<String> {
        let Some(text) = self.0.warnings.as_deref() else { return Vec::new() };
        serde_json::from_str(text).unwrap_or_else(|_| {
            tracing::error!(sync.run_id = self.0.id, "a sync run's warnings are not a JSON list");
            Vec::new()
        })
    }

    async fn students(&self) -> SyncCounts {
        let r = &self.0;
        SyncCounts {
            created: r.students_created,
            updated: r.students_updated,
            deactivated: r.students_deactivated,
            reactivated: r.students_reactivated,
            reidentified: r.students_reidentified,
            held: r.students_held,
        }
    }

    async fn staff(&self) -> SyncCounts {
        let r = &self.0;
        SyncCounts {
            created: r.staff_created,
            updated: r.staff_updated,
            deactivated: r.staff_deactivated,
            reactivated: r.staff_reactivated,
            reidentified: r.staff_reidentified,
            held: r.staff_held,
        }
    }

    async fn guardians(&self) -> SyncCounts {
        let r = &self.0;
        SyncCounts {
            created: r.guardians_created,
            updated: r.guardians_updated,
            deactivated: r.guardians_deactivated,
            reactivated: r.guardians_reactivated,
            reidentified: r.guardians_reidentified,
            held: r.guardians_held,
        }
    }

    async fn groups(&self) -> SyncCounts {
        let r = &self.0;
        SyncCounts {
            created: r.groups_created,
            updated: r.groups_updated,
            deactivated: r.groups_deactivated,
            reactivated: r.groups_reactivated,
            reidentified: 0,
            held: r.groups_held,
        }
    }

    /// Changes the mass-deactivation guard held for a decision in this run,
    /// all kinds together: the run COMPLETED, applied everything else, and
    /// these wait in `heldChanges` (product.md, the guard).
    async fn held(&self) -> i32 {
        let r = &self.0;
        crate::sync::runs::held(r)
    }
}

/// Progress of a run, as the sync reports it.
#[derive(SimpleObject)]
pub struct SyncProgressEvent {
    pub cursor: String,
    pub run: SyncRun,
    pub phase: String,
    pub processed: i32,
    pub total: Option<i32>,
}

//! Data-quality findings: what a school office should fix in its MIS.

use crate::graphql::scalars::DateTime;
use async_graphql::{Context, ID, Object};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entity::data_quality_finding;

use super::{Guardian, Staff, Student, SyncRun};
use crate::error::ResultExt;
use crate::graphql::RequestContext;
use crate::graphql::enums::DataQualityKind;
use crate::quality::Records;

/// One thing a school office should fix, with the records involved.
/// Recomputed by every sync run of the school (Wonde or CSV): it is gone
/// after the run that no longer finds it.
pub struct DataQualityFinding {
    row: data_quality_finding::Model,
    records: Records,
}

impl DataQualityFinding {
    pub fn new(row: data_quality_finding::Model) -> Self {
        let records = Records::from_json(&row.records);
        Self { row, records }
    }
}

#[Object]
impl DataQualityFinding {
    /// An opaque ID, stable while the finding lasts. Findings are not
    /// nodes: `node(id:)` does not resolve it.
    async fn id(&self) -> ID {
        ID(URL_SAFE_NO_PAD.encode(format!("DataQualityFinding:{}", self.row.id)))
    }

    /// What is wrong.
    async fn kind(&self) -> DataQualityKind {
        self.row.kind.into()
    }

    /// One sentence for the school office: what is wrong and what to do.
    /// It holds counts and source ids, never names or emails; the records
    /// below show those.
    async fn detail(&self) -> &str {
        &self.row.detail
    }

    /// When it was first found (UTC), by a run or by an approval of held
    /// changes that changed the directory; it keeps this time while it
    /// lasts.
    async fn detected_at(&self) -> DateTime {
        DateTime(self.row.detected_at)
    }

    /// The run that first found it; null when an approval of held changes
    /// did (deactivating one guardian can turn one finding into another).
    async fn sync_run(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<SyncRun>> {
        SyncRun::of(ctx, self.row.sync_run_id).await
    }

    /// Students involved, in id order. Records outside the token's scope
    /// are left out.
    async fn students(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Student>> {
        let ids = &self.records.students;
        let rc = RequestContext::of(ctx)?;
        let mut rows = rc.loaders.students.load_many(ids.iter().copied()).await.gql()?;
        Ok(ids.iter().filter_map(|id| rows.remove(id)).map(Student).collect())
    }

    /// Guardian records involved, in id order; for SHARED_EMAIL_DIFFERENT_NAMES
    /// they may be at other schools of the trust (left out when outside
    /// the token's scope).
    async fn guardians(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Guardian>> {
        let ids = &self.records.guardians;
        let rc = RequestContext::of(ctx)?;
        let mut rows = rc.loaders.guardians.load_many(ids.iter().copied()).await.gql()?;
        Ok(ids.iter().filter_map(|id| rows.remove(id)).map(Guardian).collect())
    }

    /// Staff involved, in id order.
    async fn staff(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Staff>> {
        let ids = &self.records.staff;
        let rc = RequestContext::of(ctx)?;
        let mut rows = rc.loaders.staff.load_many(ids.iter().copied()).await.gql()?;
        Ok(ids.iter().filter_map(|id| rows.remove(id)).map(Staff).collect())
    }

    /// The source's ids (Wonde ids, or a CSV's `id` column) of records
    /// involved as the source sent them: a record dropped as a duplicate
    /// in a fetch, or the new record of an ambiguous re-identification.
    async fn source_ids(&self) -> &[String] {
        &self.records.source_ids
    }
}

//! `importCsv`: the CSV alternative to Wonde, over GraphQL multipart
//! uploads. Every row is validated first; any error refuses the files and
//! writes nothing (the answer lists the errors with their line numbers).

use async_graphql::{Context, ID, Object, Upload};
use std::io::Read;

use super::admin_of_school;
use crate::error::{AppError, ResultExt};
use crate::events::EventBus;
use crate::graphql::context::service;
use crate::graphql::types::{CsvImportResult, CsvRowError, SyncRun};
use crate::sync::csv_import::{CsvImportOutcome, CsvImporter};
use crate::sync::csv_source::{CsvFiles, MAX_FILE_BYTES};

#[derive(Default)]
pub struct CsvMutation;

#[Object]
impl CsvMutation {
    /// The CSV alternative to Wonde: validates every row first, applies
    /// nothing if any is wrong. `full: true` makes accounts of a type whose
    /// file is given, and that the file lacks, leavers (REMOVED_FROM_MIS);
    /// otherwise only the rows present are applied. Admins of the school.
    async fn import_csv(
        &self,
        ctx: &Context<'_>,
        school_id: ID,
        students: Option<Upload>,
        staff: Option<Upload>,
        guardians: Option<Upload>,
        full: Option<bool>,
    ) -> async_graphql::Result<CsvImportResult> {
        let (rc, school_id) = admin_of_school(ctx, &school_id)?;
        let files = CsvFiles {
            students: read(ctx, students.as_ref(), "students").gql()?,
            staff: read(ctx, staff.as_ref(), "staff").gql()?,
            guardians: read(ctx, guardians.as_ref(), "guardians").gql()?,
        };
        let events = service::<EventBus>(ctx, "event bus missing")?;
        let guard = ctx
            .data::<crate::sync::ledger::GuardShare>()
            .map_or(crate::sync::ledger::DEFAULT_GUARD_SHARE, |g| g.0);
        let importer = CsvImporter {
            db: rc.db.clone(),
            events: events.clone(),
            guard_share: guard,
            worker: crate::sync::runs::worker_name(),
        };
        // The guard is never bypassed over the API: an admin who means a
        // mass deactivation uses `onroll import-csv --force`.
        match importer.import(school_id, files, full.unwrap_or(false), false).await.gql()? {
            CsvImportOutcome::Refused(errors) => {
                // Refused in the answer, not as an error: the audit log
                // still records a refusal.
                crate::graphql::audit::note_refusal(ctx, AppError::bad_input(String::new()).code());
                Ok(CsvImportResult {
                    run: None,
                    errors: errors
                        .into_iter()
                        .map(|e| CsvRowError {
                            file: e.file.as_str().to_owned(),
                            line: i32::try_from(e.line).unwrap_or(i32::MAX),
                            column: e.column,
                            message: e.message,
                        })
                        .collect(),
                })
            }
            CsvImportOutcome::Ran(run) => {
                Ok(CsvImportResult { run: Some(SyncRun(*run)), errors: Vec::new() })
            }
        }
    }
}

/// An upload's bytes, refused past the CSV limit without reading it all.
fn read(ctx: &Context<'_>, upload: Option<&Upload>, name: &str) -> Result<Option<Vec<u8>>, AppError> {
    let Some(upload) = upload else { return Ok(None) };
    let value =
        upload.value(ctx).map_err(|_| AppError::bad_input(format!("`{name}` is not an uploaded file")))?;
    let limit = u64::try_from(MAX_FILE_BYTES).unwrap_or(u64::MAX);
    let mut bytes = Vec::new();
    value
        .into_read()
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|_| AppError::bad_input(format!("`{name}` could not be read")))?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(AppError::bad_input(format!(
            "`{name}` is larger than {} MB",
            MAX_FILE_BYTES / (1024 * 1024)
        )));
    }
    Ok(Some(bytes))
}

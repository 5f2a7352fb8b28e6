//! Text reaches the database as the MIS sent it, however it is written:
//! quotes, backslashes, commas, braces and the word NULL, which mean
//! something in SQL and in array and JSON literals, whatever way a batch
//! of new rows is sent (issue 15 tried array literals and JSON documents).
//! On both engines, over HTTP against the simulator; the records are
//! patched before the first FULL run, so they are inserted.

use entity::enums::{SyncKind, SyncStatus};
use entity::{guardian, student};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use wonde_sim::PatchRequest;

use crate::held::Held;
use crate::on_both_engines;
use crate::row_by_wonde_id;
use crate::support::Engine;

on_both_engines!(awkward_text_is_stored_as_sent);

fn patch(kind: &str, id: &str, path: &str, value: &str) -> PatchRequest {
    PatchRequest { kind: kind.into(), id: id.into(), path: path.into(), value: json!(value) }
}

async fn awkward_text_is_stored_as_sent(engine: Engine) -> anyhow::Result<()> {
    let h = Held::connect(&engine, 6).await?;
    let truth = h.sim.truth(&h.wonde_id)?;
    let pupil = truth.students.first().ok_or_else(|| anyhow::anyhow!("a student"))?.clone();
    let other = truth.students.get(1).ok_or_else(|| anyhow::anyhow!("a second student"))?.clone();
    let parent = truth.contacts.first().ok_or_else(|| anyhow::anyhow!("a contact"))?.clone();
    let texts = [
        ("student", &pupil.id, "forename", "Zoë \"Jo\" O'Brien"),
        ("student", &pupil.id, "surname", "Smith, {Jr} \\ NULL"),
        ("student", &other.id, "surname", "NULL"),
        ("contact", &parent.id, "surname", "ends with a backslash \\"),
    ];
    for (kind, id, path, value) in texts {
        h.sim.patch_record(&h.wonde_id, patch(kind, id, path, value))?;
    }
    let run = h.sync(SyncKind::Full).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);

    let stored = row_by_wonde_id!(h.db(), h.school.id, student, pupil.id.as_str())?;
    assert_eq!(stored.forename, "Zoë \"Jo\" O'Brien");
    assert_eq!(stored.surname, "Smith, {Jr} \\ NULL");
    let stored = row_by_wonde_id!(h.db(), h.school.id, student, other.id.as_str())?;
    assert_eq!(stored.surname, "NULL", "the word NULL is text, not a missing value");
    let stored = row_by_wonde_id!(h.db(), h.school.id, guardian, parent.id.as_str())?;
    assert_eq!(stored.surname, "ends with a backslash \\");
    // A value the MIS left out stays missing, not the text "NULL".
    assert!(stored.title.as_deref() != Some("NULL"), "{stored:?}");
    Ok(())
}

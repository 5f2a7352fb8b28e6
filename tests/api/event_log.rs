//! Appending to the event log (`events::log`), on both engines: a mix of
//! published and log-only rows comes back in the order given, with ids in
//! that order, and every field stored as given: payloads with quotes,
//! backslashes, newlines and non-ASCII text, and absent fields as NULL.

use chrono::{TimeZone, Utc};
use entity::enums::{DeactivationReason, EventKind, PersonKind};
use entity::event;
use sea_orm::{ActiveValue::Set, EntityTrait, QueryOrder};

use crate::on_both_engines;
use crate::support::fixture::Fixture;
use crate::support::{Engine, TestDb};

on_both_engines!(appended_rows_keep_their_order_and_their_fields);

async fn appended_rows_keep_their_order_and_their_fields(engine: Engine) -> anyhow::Result<()> {
    let data = TestDb::create(&engine).await?;
    let f = Fixture::new(&data.db);
    let trust = f.trust("Log Trust").await?;
    let school = f.school(&trust, "Log School").await?;
    // PostgreSQL keeps microseconds: the digits below are cut, as sqlx cuts
    // them when it binds a time; SQLite keeps the text whole.
    let at = Utc.with_ymd_and_hms(2026, 3, 29, 0, 59, 59).single().ok_or_else(|| anyhow::anyhow!("time"))?
        + chrono::Duration::nanoseconds(123_456_789);
    let stored_at = match engine {
        Engine::Postgres(_) => at - chrono::Duration::nanoseconds(789),
        Engine::Sqlite => at,
    };
    let payloads = [Some(r#"{"say":"\"quoted\" \\ back\nslash","name":"Zoë Ó'Brien ✓"}"#), None, Some("")];
    let mut rows = Vec::new();
    for i in 0..30 {
        let log_only = i % 3 != 0;
        rows.push(event::ActiveModel {
            trust_id: Set(trust.id),
            school_id: Set(school.id),
            kind: Set(if log_only { EventKind::GuardianJoinedGroup } else { EventKind::Deactivated }),
            person_kind: Set((i % 2 == 0).then_some(PersonKind::Student)),
            person_id: Set(Some(1_000 + i)),
            reason: Set((!log_only).then_some(DeactivationReason::LeftSchool)),
            sync_run_id: Set(None),
            payload: Set(payloads[i as usize % 3].map(str::to_owned)),
            occurred_at: Set(at),
            ..Default::default()
        });
    }
    let published = onroll::events::log::append(&data.db, rows.clone()).await?;
    // The published rows come back, in order; log-only ones do not.
    let persons: Vec<Option<i32>> = published.iter().map(|e| e.person_id).collect();
    let expected: Vec<Option<i32>> = (0..30).filter(|i| i % 3 == 0).map(|i| Some(1_000 + i)).collect();
    assert_eq!(persons, expected);

    let stored = event::Entity::find().order_by_asc(event::Column::Id).all(&data.db).await?;
    assert_eq!(stored.len(), rows.len());
    for (row, given) in stored.iter().zip(&rows) {
        let given = (
            given.kind.clone().unwrap(),
            given.person_kind.clone().unwrap(),
            given.person_id.clone().unwrap(),
            given.reason.clone().unwrap(),
            given.payload.clone().unwrap(),
        );
        assert_eq!((row.kind, row.person_kind, row.person_id, row.reason, row.payload.clone()), given);
        assert_eq!(
            (row.trust_id, row.school_id, row.sync_run_id, row.occurred_at),
            (trust.id, school.id, None, stored_at)
        );
    }
    for (published, stored) in
        published.iter().zip(stored.iter().filter(|e| e.kind == EventKind::Deactivated))
    {
        assert_eq!(published, stored);
    }
    Ok(())
}

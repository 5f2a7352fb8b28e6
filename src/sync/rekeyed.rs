//! An INCREMENTAL answer that re-keys pupils on roll is read again whole.
//!
//! A change of MIS gives every record a new Wonde id (and often a new UPI).
//! Only an answer that speaks for the whole school can say an old id is
//! gone, so only such an answer may carry an account over to a re-keyed
//! record ([`super::identity`]). An incremental answer can not: read as it
//! is, it created a duplicate of every pupil, parent, member of staff and
//! group, and the FULL run after it ended all the originals, under the
//! guard's share since the duplicates had doubled the school (trial, on
//! both engines). Wonde's `schoolMigration` notice, which would queue a
//! whole read, may never come.
//!
//! So an INCREMENTAL answer holding a pupil of an id the school has never
//! seen who is, by UPI, or by UPN under names that agree, a pupil still on
//! roll here, is taken for such a change, and the run reads the whole
//! school instead. A re-enrolment under a new id while the old one is still
//! on roll here is read whole too: it costs one FULL fetch and changes
//! nothing else. A leaver re-admitted (their account is not on roll) and a
//! new starter are not.

use entity::enums::AccountStatus;
use entity::student;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use std::collections::HashSet;

use super::identity;
use super::monitor::RunMonitor;
use super::source::Batch;
use super::wonde_source::{FetchError, FetchPlan, fetch};
use crate::families::names_agree;
use crate::wonde::{SchoolAccess, WondeClient};

/// The sentence a run escalated this way carries in its warnings.
pub const READ_WHOLE: &str = "the INCREMENTAL answer gave pupils on roll new ids (a change of MIS?), \
    so the run read the whole school, as a FULL run does, to carry their accounts over";

/// Fetches what `plan` asks for; an incremental answer that re-keys pupils
/// on roll ([`rekeys_pupils_on_roll`]) is fetched again whole, and says so
/// in the batch's notices.
pub async fn fetch_for_run<C: ConnectionTrait>(
    client: &WondeClient,
    access: &SchoolAccess,
    db: &C,
    school_id: i32,
    plan: FetchPlan,
    monitor: &mut RunMonitor<'_>,
) -> Result<Batch, FetchError> {
    let batch = fetch(client, access, plan, monitor).await?;
    if plan.complete || !rekeys_pupils_on_roll(db, school_id, &batch).await? {
        return Ok(batch);
    }
    tracing::warn!(
        school.id = school_id,
        "an incremental answer re-keys pupils on roll; reading the whole school"
    );
    let mut whole = fetch(client, access, FetchPlan { complete: true, ..plan }, monitor).await?;
    whole.notices.push(READ_WHOLE.to_owned());
    Ok(whole)
}

/// Whether `batch` holds a pupil of an id the school has never seen who is
/// a pupil on roll here by UPI, or by UPN under names that agree.
pub async fn rekeys_pupils_on_roll<C: ConnectionTrait>(
    db: &C,
    school_id: i32,
    batch: &Batch,
) -> Result<bool, DbErr> {
    if batch.students.is_empty() {
        return Ok(false);
    }
    type Row = (String, Option<String>, Option<String>, String, String, AccountStatus);
    let rows: Vec<Row> = student::Entity::find()
        .select_only()
        .columns([
            student::Column::WondeId,
            student::Column::Upi,
            student::Column::Upn,
            student::Column::Forename,
            student::Column::Surname,
            student::Column::Status,
        ])
        .filter(student::Column::SchoolId.eq(school_id))
        .into_tuple()
        .all(db)
        .await?;
    let known: HashSet<&str> = rows.iter().map(|row| row.0.as_str()).collect();
    let on_roll: Vec<&Row> = rows.iter().filter(|row| row.5 == AccountStatus::Active).collect();
    // The re-identification's own keys (`reconcile::students`).
    let by_upi = identity::index(&on_roll, |row| row.1.clone().filter(|upi| !upi.trim().is_empty()));
    let by_upn = identity::index(&on_roll, |row| identity::upn_key(row.2.as_deref()));
    Ok(batch.students.iter().filter(|s| !known.contains(s.source_id.as_str())).any(|s| {
        let same_upi = !identity::candidates(&by_upi, s.upi.clone()).is_empty();
        let holders = identity::candidates(&by_upn, identity::upn_key(s.upn.as_deref()));
        let names = holders.iter().map(|&i| (on_roll[i].3.as_str(), on_roll[i].4.as_str()));
        let same_upn =
            !holders.is_empty() && names_agree(names.chain([(s.forename.as_str(), s.surname.as_str())]));
        same_upi || same_upn
    }))
}

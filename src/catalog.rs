//! Wonde's school directory (`/schools/all`), mirrored locally so that a
//! trust admin can find a school before any access exists. A full refresh
//! reads the whole directory; the daily incremental one asks for schools
//! changed since the last refresh, and is skipped (with a log line and a
//! status the API shows) until a full one has happened. Access statuses
//! come from the app's pending, approved, declined and revoked lists.
//!
//! One row (`wonde_catalog_state`) says where the catalog stands; a refresh
//! claims it with a conditional update, so replicas never refresh together.

use chrono::{DateTime, Duration, Utc};
use entity::enums::{CatalogOutcome, ConnectionStatus};
use entity::{wonde_catalog_school, wonde_catalog_state};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
};
use std::collections::HashMap;

use crate::wonde::{AccessList, SchoolSearch, SecretToken, WondeClient, WondeError, WondeSchool};

/// The catalog state's only row.
const STATE_ID: i32 = 1;
/// An incremental refresh asks from a little before the last one, so a
/// clock skew between Wonde and us loses nothing.
const OVERLAP: Duration = Duration::minutes(10);
/// A claim older than this belongs to a process that stopped mid-refresh.
const CLAIM_EXPIRES: Duration = Duration::minutes(30);
/// How often the incremental refresh runs.
pub const INCREMENTAL_EVERY: Duration = Duration::days(1);
/// How often a full refresh runs again: the incremental one cannot see a
/// school that left the directory.
pub const FULL_EVERY: Duration = Duration::days(7);

/// The app's own Wonde token as request data: `None` when not configured.
#[derive(Clone)]
pub struct WondeAppToken(pub Option<SecretToken>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshMode {
    Full,
    Incremental,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Schools read from Wonde, and schools with an access status.
    Completed { schools: usize, with_status: usize },
    /// Not done, and why.
    Skipped(&'static str),
    /// Another process is refreshing now.
    Busy,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("Wonde could not be read: {0}")]
    Wonde(#[from] WondeError),
    #[error("the directory's database failed: {0}")]
    Database(#[from] DbErr),
}

impl CatalogError {
    /// Words the API may show (`wondeCatalog.lastMessage`): Wonde's failure
    /// as it is (it holds no token), a database failure without the
    /// driver's text, which only the log gets.
    pub fn public_message(&self) -> String {
        match self {
            Self::Wonde(_) => self.to_string(),
            Self::Database(_) => {
                "the directory's database failed during the refresh; the log has the details".to_owned()
            }
        }
    }
}

pub const NEEDS_FULL: &str = "an incremental catalog refresh needs a full one first";

/// Refreshes the catalog; records how it ended in the state row.
pub async fn refresh(
    db: &DatabaseConnection,
    client: &WondeClient,
    app_token: &SecretToken,
    mode: RefreshMode,
) -> Result<RefreshOutcome, CatalogError> {
    let started = Utc::now();
    if !claim(db, started).await? {
        return Ok(RefreshOutcome::Busy);
    }
    let state = state(db).await?;
    let since = state.last_full_at.max(state.last_incremental_at);
    if mode == RefreshMode::Incremental && state.last_full_at.is_none() {
        tracing::warn!("{NEEDS_FULL}; skipped (run `onroll catalog refresh --full`)");
        record(db, started, mode, CatalogOutcome::Skipped, Some(NEEDS_FULL.to_owned())).await?;
        return Ok(RefreshOutcome::Skipped(NEEDS_FULL));
    }
    let since = match mode {
        RefreshMode::Full => None,
        RefreshMode::Incremental => since.map(|t| t - OVERLAP),
    };
    match fetch_and_store(db, client, app_token, since).await {
        Ok((schools, with_status)) => {
            record(db, started, mode, CatalogOutcome::Completed, None).await?;
            tracing::info!(schools, with_status, mode = ?mode, "Wonde catalog refreshed");
            Ok(RefreshOutcome::Completed { schools, with_status })
        }
        Err(err) => {
            tracing::warn!(mode = ?mode, error = %err, "Wonde catalog refresh failed");
            record(db, started, mode, CatalogOutcome::Failed, Some(err.public_message())).await?;
            Err(err)
        }
    }
}

/// How often the background task looks whether a refresh is due.
const LOOK_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Keeps the catalog fresh until `stop` turns true: a full refresh first,
/// then what [`due`] says. Failures are recorded and retried next look.
pub async fn run_until_stopped(
    db: DatabaseConnection,
    client: WondeClient,
    app_token: SecretToken,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let mode = match state(&db).await {
            Ok(state) => due(&state, Utc::now()),
            Err(err) => {
                tracing::error!(db.error = crate::error::db_error_kind(&err), "catalog state unreadable");
                None
            }
        };
        if let Some(mode) = mode {
            // The outcome is recorded (and logged) by `refresh` itself.
            let _ = refresh(&db, &client, &app_token, mode).await;
        }
        tokio::select! {
            () = tokio::time::sleep(LOOK_EVERY) => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
        }
    }
}

/// Which refresh is due at `now`, if any.
pub fn due(state: &wonde_catalog_state::Model, now: DateTime<Utc>) -> Option<RefreshMode> {
    let Some(full) = state.last_full_at else { return Some(RefreshMode::Full) };
    if now - full >= FULL_EVERY {
        return Some(RefreshMode::Full);
    }
    let last = state.last_incremental_at.map_or(full, |inc| inc.max(full));
    (now - last >= INCREMENTAL_EVERY).then_some(RefreshMode::Incremental)
}

pub async fn state<C: ConnectionTrait>(db: &C) -> Result<wonde_catalog_state::Model, DbErr> {
    wonde_catalog_state::Entity::find_by_id(STATE_ID)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("wonde_catalog_state row 1 (run the migrations)".to_owned()))
}

/// Records Wonde's latest word on our access to one school (a request we
/// made, a webhook), so that search shows it before the next refresh.
pub async fn set_access_status<C: ConnectionTrait>(
    db: &C,
    wonde_id: &str,
    status: ConnectionStatus,
) -> Result<(), DbErr> {
    wonde_catalog_school::Entity::update_many()
        .col_expr(wonde_catalog_school::Column::AccessStatus, Expr::value(status.as_str()))
        .filter(wonde_catalog_school::Column::WondeId.eq(wonde_id))
        .exec(db)
        .await?;
    Ok(())
}

async fn claim(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<bool, DbErr> {
    use wonde_catalog_state::Column;
    crate::db::stamp_unless_recent(db, (Column::Id, STATE_ID), Column::RefreshingSince, now, CLAIM_EXPIRES)
        .await
}

/// Ends a refresh: its outcome, and the watermark when it completed.
async fn record(
    db: &DatabaseConnection,
    started: DateTime<Utc>,
    mode: RefreshMode,
    outcome: CatalogOutcome,
    message: Option<String>,
) -> Result<(), DbErr> {
    let mut row = wonde_catalog_state::ActiveModel {
        id: Set(STATE_ID),
        refreshing_since: Set(None),
        last_attempt_at: Set(Some(started)),
        last_outcome: Set(outcome),
        last_message: Set(message),
        ..Default::default()
    };
    if outcome == CatalogOutcome::Completed {
        match mode {
            RefreshMode::Full => row.last_full_at = Set(Some(started)),
            RefreshMode::Incremental => row.last_incremental_at = Set(Some(started)),
        }
    }
    wonde_catalog_state::Entity::update(row).exec(db).await?;
    Ok(())
}

/// Pages the directory into the table (an upsert a page), then replaces
/// every access status with the app's four lists, in one transaction.
async fn fetch_and_store(
    db: &DatabaseConnection,
    client: &WondeClient,
    app_token: &SecretToken,
    since: Option<DateTime<Utc>>,
) -> Result<(usize, usize), CatalogError> {
    let mut pager =
        client.search_schools(app_token, &SchoolSearch { updated_after: since, ..Default::default() });
    let mut schools = 0;
    while let Some(page) = pager.next_whole_page().await? {
        schools += page.records.len();
        upsert(db, &page.records).await?;
    }
    let mut statuses: HashMap<String, ConnectionStatus> = HashMap::new();
    for (list, status) in [
        (AccessList::Pending, ConnectionStatus::Pending),
        (AccessList::Declined, ConnectionStatus::Declined),
        (AccessList::Revoked, ConnectionStatus::Revoked),
        // Last: a school both approved and in an older list is approved.
        (AccessList::Approved, ConnectionStatus::Approved),
    ] {
        let mut pager = client.schools_in(app_token, list);
        while let Some(page) = pager.next_whole_page().await? {
            statuses.extend(page.records.into_iter().map(|school| (school.id, status)));
        }
    }
    let txn = crate::db::begin_write(db).await?;
    wonde_catalog_school::Entity::update_many()
        .col_expr(wonde_catalog_school::Column::AccessStatus, Expr::value(Option::<String>::None))
        .filter(wonde_catalog_school::Column::AccessStatus.is_not_null())
        .exec(&txn)
        .await?;
    let mut by_status: HashMap<ConnectionStatus, Vec<String>> = HashMap::new();
    for (wonde_id, status) in &statuses {
        by_status.entry(*status).or_default().push(wonde_id.clone());
    }
    for (status, ids) in by_status {
        for chunk in ids.chunks(500) {
            wonde_catalog_school::Entity::update_many()
                .col_expr(wonde_catalog_school::Column::AccessStatus, Expr::value(status.as_str()))
                .filter(wonde_catalog_school::Column::WondeId.is_in(chunk.iter().cloned()))
                .exec(&txn)
                .await?;
        }
    }
    txn.commit().await?;
    Ok((schools, statuses.len()))
}

async fn upsert(db: &DatabaseConnection, schools: &[WondeSchool]) -> Result<(), DbErr> {
    use wonde_catalog_school::Column as C;
    let now = Utc::now();
    let rows: Vec<_> = schools
        .iter()
        .map(|school| {
            let name = school.name.clone().unwrap_or_else(|| school.id.clone());
            let postcode = school.postcode().map(str::to_owned);
            wonde_catalog_school::ActiveModel {
                wonde_id: Set(school.id.clone()),
                name_key: Set(name.to_lowercase()),
                name: Set(name),
                urn: Set(school.urn.clone()),
                la_code: Set(school.la_code.clone()),
                establishment_number: Set(school.establishment_number.clone()),
                postcode_key: Set(postcode.as_deref().map(postcode_key)),
                postcode: Set(postcode),
                phase: Set(school.phase_of_education.clone()),
                mis: Set(school.mis.clone()),
                address: Set(address(school)),
                access_status: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    // The access status is not the directory's: the lists set it.
    let update = [
        C::Name,
        C::NameKey,
        C::Urn,
        C::LaCode,
        C::EstablishmentNumber,
        C::Postcode,
        C::PostcodeKey,
        C::Phase,
        C::Mis,
        C::Address,
        C::UpdatedAt,
    ];
    wonde_catalog_school::Entity::insert_many(rows)
        .on_conflict(OnConflict::column(C::WondeId).update_columns(update).to_owned())
        .exec(db)
        .await?;
    Ok(())
}

/// "cb21 6ab" → "CB216AB": what a postcode-prefix search compares with.
pub fn postcode_key(postcode: &str) -> String {
    postcode.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase()
}

fn address(school: &WondeSchool) -> Option<String> {
    let a = school.address.as_ref()?;
    let parts: Vec<&str> = [&a.address_line_1, &a.address_line_2, &a.address_town]
        .into_iter()
        .filter_map(|part| part.as_deref().map(str::trim).filter(|p| !p.is_empty()))
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(full: Option<i64>, incremental: Option<i64>) -> wonde_catalog_state::Model {
        let ago = |hours: i64| Utc::now() - Duration::hours(hours);
        wonde_catalog_state::Model {
            id: STATE_ID,
            last_full_at: full.map(ago),
            last_incremental_at: incremental.map(ago),
            refreshing_since: None,
            last_attempt_at: None,
            last_outcome: CatalogOutcome::Never,
            last_message: None,
        }
    }

    #[test]
    fn a_full_refresh_first_then_daily_incremental_and_weekly_full() {
        let now = Utc::now();
        assert_eq!(due(&state(None, None), now), Some(RefreshMode::Full));
        assert_eq!(due(&state(Some(2), None), now), None);
        assert_eq!(due(&state(Some(25), None), now), Some(RefreshMode::Incremental));
        assert_eq!(due(&state(Some(30), Some(3)), now), None);
        assert_eq!(due(&state(Some(30), Some(25)), now), Some(RefreshMode::Incremental));
        assert_eq!(due(&state(Some(24 * 7 + 1), Some(1)), now), Some(RefreshMode::Full));
    }

    #[test]
    fn postcode_keys_ignore_case_and_spaces() {
        assert_eq!(postcode_key(" cb21 6ab "), "CB216AB");
    }
}

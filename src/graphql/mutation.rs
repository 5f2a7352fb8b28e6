//! The Mutation root: the control plane. Trust admins may change their
//! trust's schools, school admins their own schools, integrators nothing.

use async_graphql::{Context, ID, Object};
use entity::enums::SyncKind as DbSyncKind;
use entity::{school, wonde_connection};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use std::sync::Arc;
use tokio::sync::Notify;

use super::RequestContext;
use super::context::service;
use super::enums::SyncKind;
use super::ids::{NodeType, decode_as};
use super::inputs::{ConnectWondeInput, SyncOptionsInput};
use super::types::{School, SyncRun};
use crate::auth::Viewer;
use crate::connections;
use crate::crypto::{Secret, SecretKey};
use crate::error::{AppError, ResultExt};
use crate::events::EventBus;
use crate::sync::runs;
use crate::wonde::{SchoolAccess, SecretToken, WondeClient, WondeError};

mod access;
mod csv;
mod held;
mod retention;
mod schools;
pub(crate) mod webhooks;

/// The Mutation root, merged from one object per concern so that each file
/// stays about one thing.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    access::AccessMutation,
    schools::SchoolMutation,
    WondeMutation,
    csv::CsvMutation,
    held::HeldMutation,
    retention::RetentionMutation,
    webhooks::WebhookMutation,
);

/// Connecting schools to Wonde and running their syncs.
#[derive(Default)]
pub struct WondeMutation;

/// Integrators change nothing.
fn refuse_integrators(viewer: &Viewer) -> Result<(), AppError> {
    if viewer.role == entity::enums::Role::Integrator {
        return Err(AppError::Forbidden(
            "integrators read and subscribe; they cannot change anything".to_owned(),
        ));
    }
    Ok(())
}

/// A trust the viewer does not see looks missing.
fn require_trust(viewer: &Viewer, trust_id: i32) -> Result<(), AppError> {
    if !viewer.sees_trust(trust_id) {
        return Err(AppError::NotFound("no trust with that ID is visible to this token".to_owned()));
    }
    Ok(())
}

/// Only admins change anything, and only where they can see.
pub(super) fn require_admin(viewer: &Viewer, school_id: i32) -> Result<(), AppError> {
    refuse_integrators(viewer)?;
    if !viewer.sees_school(school_id) {
        return Err(AppError::NotFound("no school with that ID is visible to this token".to_owned()));
    }
    Ok(())
}

/// The request and the school `school_id` names, once the viewer is found
/// to be one of its admins ([`require_admin`]).
pub(super) fn admin_of_school<'a>(
    ctx: &Context<'a>,
    school_id: &ID,
) -> async_graphql::Result<(&'a RequestContext, i32)> {
    let rc = RequestContext::of(ctx)?;
    let school_id = decode_as(school_id, NodeType::School).gql()?;
    require_admin(&rc.viewer, school_id).gql()?;
    Ok((rc, school_id))
}

/// Only trust admins act on the trust as a whole (new schools, access
/// requests), and only on their own trust.
pub(super) fn require_trust_admin(viewer: &Viewer, trust_id: i32, action: &str) -> Result<(), AppError> {
    if viewer.role != entity::enums::Role::TrustAdmin {
        return Err(AppError::Forbidden(format!("only trust admins {action}")));
    }
    require_trust(viewer, trust_id)
}

/// The request and the trust `trust_id` names, once the viewer is found
/// to be a trust admin of it ([`require_trust_admin`]).
pub(super) fn trust_admin_of<'a>(
    ctx: &Context<'a>,
    trust_id: &ID,
    action: &str,
) -> async_graphql::Result<(&'a RequestContext, i32)> {
    let rc = RequestContext::of(ctx)?;
    let trust_id = decode_as(trust_id, NodeType::Trust).gql()?;
    require_trust_admin(&rc.viewer, trust_id, action).gql()?;
    Ok((rc, trust_id))
}

/// Wakes the sync scheduler (when the server runs one) to pick up a run
/// queued now rather than at its next tick.
fn wake_scheduler(ctx: &Context<'_>) {
    if let Ok(wake) = ctx.data::<Arc<Notify>>() {
        wake.notify_one();
    }
}

/// The connection's row with `options` applied, as `connectWonde` and
/// `updateSyncOptions` take them: an absent field keeps its current value.
fn with_options(
    connection: &wonde_connection::Model,
    options: &SyncOptionsInput,
) -> wonde_connection::ActiveModel {
    let mut row: wonde_connection::ActiveModel = connection.clone().into();
    row.sync_students = Set(options.students.unwrap_or(connection.sync_students));
    row.sync_staff = Set(options.staff.unwrap_or(connection.sync_staff));
    row.sync_guardians = Set(options.guardians.unwrap_or(connection.sync_guardians));
    row.sync_classes = Set(options.classes.unwrap_or(connection.sync_classes));
    row.sync_year_groups = Set(options.year_groups.unwrap_or(connection.sync_year_groups));
    row.sync_form_groups = Set(options.form_groups.unwrap_or(connection.sync_form_groups));
    row
}

async fn connection_of(rc: &RequestContext, school_id: i32) -> Result<wonde_connection::Model, AppError> {
    rc.viewer
        .connections()
        .filter(wonde_connection::Column::SchoolId.eq(school_id))
        .one(&rc.db)
        .await?
        .ok_or_else(|| AppError::bad_input("the school is not connected to Wonde"))
}

pub(super) async fn school(rc: &RequestContext, school_id: i32) -> Result<School, AppError> {
    let row = school::Entity::find_by_id(school_id).one(&rc.db).await?;
    row.map(School).ok_or_else(|| AppError::NotFound("no such school".to_owned()))
}

/// Wonde's answer to a token check, as a client error; never the token
/// (Wonde's words are cleaned of anything token-like by the client).
/// Only a missing answer is "could not be reached".
fn wonde_refusal(err: &WondeError) -> AppError {
    let (code, message) = match err {
        WondeError::Unauthorized { .. } | WondeError::Forbidden { .. } => (
            "WONDE_UNAUTHORIZED",
            "Wonde refused that token for that school: check the school id and the token".to_owned(),
        ),
        WondeError::NotFound { .. } => ("WONDE_NOT_FOUND", "Wonde has no school with that id".to_owned()),
        WondeError::Status { status, message, .. } => (
            "WONDE_REFUSED",
            format!(
                "Wonde refused to check the token ({status}): {}; nothing was stored",
                message.as_deref().unwrap_or("no reason given")
            ),
        ),
        err if err.is_unreachable() => (
            "WONDE_UNAVAILABLE",
            "Wonde could not be reached to check the token; nothing was stored, try again".to_owned(),
        ),
        _ => (
            "WONDE_UNAVAILABLE",
            "Wonde is failing at the moment and could not check the token; nothing was stored, try again later"
                .to_owned(),
        ),
    };
    AppError::Wonde { code, message }
}

#[Object]
impl WondeMutation {
    /// Checks the token against Wonde (`GET /schools/{id}`), records the
    /// school's details and the sealed token, and queues the first FULL
    /// sync. Connecting a school already connected replaces its token. A
    /// wrong token or id stores nothing. Errors: WONDE_UNAUTHORIZED (token
    /// refused), WONDE_NOT_FOUND (no such school), WONDE_REFUSED (another
    /// refusal, with Wonde's words), WONDE_UNAVAILABLE (Wonde could not be
    /// reached, or is failing).
    async fn connect_wonde(
        &self,
        ctx: &Context<'_>,
        input: ConnectWondeInput,
    ) -> async_graphql::Result<School> {
        let rc = RequestContext::of(ctx)?;
        let trust_id = decode_as(&input.trust_id, NodeType::Trust).gql()?;
        // Not `require_trust_admin`: a school admin may reconnect a school
        // of theirs (a new school is for trust admins only, below).
        refuse_integrators(&rc.viewer).gql()?;
        require_trust(&rc.viewer, trust_id).gql()?;
        let wonde_id = input.wonde_school_id.trim().to_owned();
        if wonde_id.is_empty() || input.api_token.trim().is_empty() {
            return Err(AppError::bad_input("wondeSchoolId and apiToken are required")).gql();
        }
        let options = input.options.unwrap_or_default();
        if options.guardians.unwrap_or(true) && !options.students.unwrap_or(true) {
            return Err(AppError::bad_input("guardians cannot sync without students")).gql();
        }
        let existing = school::Entity::find()
            .filter(school::Column::WondeId.eq(wonde_id.as_str()))
            .one(&rc.db)
            .await
            .gql()?;
        match &existing {
            Some(known) if !rc.viewer.sees_school(known.id) => {
                return Err(AppError::Forbidden("that school is connected elsewhere".to_owned())).gql();
            }
            None if rc.viewer.role != entity::enums::Role::TrustAdmin => {
                return Err(AppError::Forbidden("only trust admins connect new schools".to_owned())).gql();
            }
            _ => {}
        }
        let token = Secret::new(input.api_token.trim());
        let client = service::<WondeClient>(ctx, "Wonde client missing")?;
        let access = SchoolAccess::new(wonde_id.clone(), SecretToken::new(token.expose()));
        let details = client.school(&access).await.map_err(|err| wonde_refusal(&err)).gql()?;
        let key = service::<SecretKey>(ctx, "secret key missing")?;

        let txn = crate::db::begin_write(&rc.db).await.gql()?;
        let now = chrono::Utc::now();
        let mut row: school::ActiveModel = match existing {
            Some(known) => known.into(),
            None => school::ActiveModel {
                trust_id: Set(trust_id),
                wonde_id: Set(Some(wonde_id.clone())),
                created_at: Set(now),
                ..Default::default()
            },
        };
        row.name = Set(details.name.clone().unwrap_or_else(|| wonde_id.clone()));
        row.urn = Set(details.urn.clone());
        row.la_code = Set(details.la_code.clone());
        row.establishment_number = Set(details.establishment_number.clone());
        row.phase = Set(details.phase_of_education.clone());
        row.mis = Set(details.mis.clone());
        row.postcode = Set(details.postcode().map(str::to_owned));
        row.timezone = Set(crate::school_day::zone_name(details.timezone.as_deref()));
        row.updated_at = Set(now);
        let saved = row.save(&txn).await.gql()?;
        let school_id = match saved.id {
            Set(id) | sea_orm::ActiveValue::Unchanged(id) => id,
            sea_orm::ActiveValue::NotSet => return Err(AppError::Internal("school saved without id")).gql(),
        };
        let connection = wonde_connection::Entity::find()
            .filter(wonde_connection::Column::SchoolId.eq(school_id))
            .one(&txn)
            .await
            .gql()?;
        let connection = match connection {
            Some(connection) => connection,
            None => connections::create(
                &txn,
                school_id,
                &wonde_id,
                entity::enums::ConnectionStatus::Pending,
                None,
            )
            .await
            .gql()?,
        };
        let mut row = with_options(&connection, &options);
        row.region_domain = Set(details.region_domain().map(str::to_owned));
        let connection = row.update(&txn).await.gql()?;
        connections::approve(&txn, connection, &token, key).await.gql()?;
        txn.commit().await.gql()?;
        // A new school: trust-wide tokens cached before it see it at once.
        crate::auth::cache::forget_trust_everywhere(&rc.db, trust_id).await;
        wake_scheduler(ctx);
        school(rc, school_id).await.gql()
    }

    /// Queues a sync, or returns the school's queued or running one. A
    /// queued run becomes FULL when FULL is asked, and forced with `force`;
    /// a running one is returned as it is (its `kind` says what it does).
    /// `force` only bypasses the mass-deactivation guard.
    async fn trigger_sync(
        &self,
        ctx: &Context<'_>,
        school_id: ID,
        kind: Option<SyncKind>,
        force: Option<bool>,
    ) -> async_graphql::Result<SyncRun> {
        let (rc, school_id) = admin_of_school(ctx, &school_id)?;
        let kind: DbSyncKind = kind.unwrap_or(SyncKind::Incremental).into();
        if kind == DbSyncKind::Csv {
            return Err(AppError::bad_input("a CSV run starts with importCsv")).gql();
        }
        let connection = connection_of(rc, school_id).await.gql()?;
        if connection.status != entity::enums::ConnectionStatus::Approved {
            return Err(AppError::bad_input(format!(
                "the school's Wonde access is {}, not APPROVED",
                connection.status.as_str()
            )))
            .gql();
        }
        let (run, _) = runs::enqueue(&rc.db, school_id, kind, force.unwrap_or(false)).await.gql()?;
        wake_scheduler(ctx);
        Ok(SyncRun(run))
    }

    /// Cancels a queued or running run: it stops within two page requests
    /// to Wonde and applies nothing. A run already applying what it fetched
    /// may finish; the answer then says COMPLETED.
    async fn cancel_sync(&self, ctx: &Context<'_>, run_id: ID) -> async_graphql::Result<SyncRun> {
        let rc = RequestContext::of(ctx)?;
        let run_id = decode_as(&run_id, NodeType::SyncRun).gql()?;
        let run =
            rc.viewer.sync_runs().filter(entity::sync_run::Column::Id.eq(run_id)).one(&rc.db).await.gql()?;
        let run = run
            .ok_or_else(|| AppError::NotFound("no sync run with that ID is visible to this token".to_owned()))
            .gql()?;
        require_admin(&rc.viewer, run.school_id).gql()?;
        let run =
            runs::cancel(&rc.db, run.id).await.gql()?.ok_or(AppError::Internal("run vanished")).gql()?;
        Ok(SyncRun(run))
    }

    /// Chooses which data types sync. Guardians need students. Turning a
    /// type off stops syncing it and deactivates nobody.
    async fn update_sync_options(
        &self,
        ctx: &Context<'_>,
        school_id: ID,
        options: SyncOptionsInput,
    ) -> async_graphql::Result<School> {
        let (rc, school_id) = admin_of_school(ctx, &school_id)?;
        let connection = connection_of(rc, school_id).await.gql()?;
        let students = options.students.unwrap_or(connection.sync_students);
        let guardians = options.guardians.unwrap_or(connection.sync_guardians);
        if guardians && !students {
            return Err(AppError::bad_input(
                "guardians cannot sync without students: their links come from students",
            ))
            .gql();
        }
        let mut row = with_options(&connection, &options);
        row.updated_at = Set(chrono::Utc::now());
        row.update(&rc.db).await.gql()?;
        school(rc, school_id).await.gql()
    }

    /// Forgets the school's Wonde token and stops its schedule; with
    /// `deactivateAccounts`, every active account of the school is
    /// deactivated (SCHOOL_DISCONNECTED), each with an event.
    async fn disconnect_wonde(
        &self,
        ctx: &Context<'_>,
        school_id: ID,
        deactivate_accounts: Option<bool>,
    ) -> async_graphql::Result<School> {
        let (rc, school_id) = admin_of_school(ctx, &school_id)?;
        let connection = connection_of(rc, school_id).await.gql()?;
        let txn = crate::db::begin_write(&rc.db).await.gql()?;
        let events =
            connections::disconnect(&txn, connection, deactivate_accounts.unwrap_or(false)).await.gql()?;
        txn.commit().await.gql()?;
        if let Ok(bus) = ctx.data::<EventBus>() {
            bus.publish(&events);
        }
        school(rc, school_id).await.gql()
    }
}

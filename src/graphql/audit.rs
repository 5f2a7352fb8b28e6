//! The audit log in the API: the extension that records every Mutation
//! field as it ends ([`AuditTrail`]), and the `auditLog` connection trust
//! admins read it through.
//!
//! The extension sits at the schema, not in each resolver, so that a new
//! mutation is audited without anyone remembering to, and refusals
//! (FORBIDDEN, NOT_FOUND, BAD_USER_INPUT...) are recorded as surely as
//! successes. Requests refused before GraphQL runs (no token: HTTP 401)
//! carry no actor and are not recorded.

use async_graphql::extensions::{Extension, ExtensionContext, NextPrepareRequest, NextResolve, ResolveInfo};
use async_graphql::{
    Context, Enum, ID, InputObject, Name, Object, Request, ServerResult, SimpleObject, Value, Variables,
};
use chrono::{DateTime, Utc};
use entity::{audit_log, school, sync_run};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::sync::Mutex;

use super::RequestContext;
use super::enums::Role;
use super::ids::{NodeType, decode_as, encode};
use super::pagination::{Direction, PageInfo, PageRequest, Paged, connection_by_key};
use super::types::School;
use crate::audit::{self, Actor, Entry};
use crate::error::{AppError, ResultExt};

/// A resolver's word to the audit trail about the mutation it is running:
/// which school it acted on, for mutations whose arguments do not name one
/// (`createSchool`, see [`note_school`]), and whether it refused in its
/// answer rather than with an error (`importCsv`'s row errors, see
/// [`note_refusal`]). Taken (and so cleared) as each Mutation field ends.
#[derive(Default)]
pub struct AuditNote(Mutex<Noted>);

#[derive(Default)]
struct Noted {
    school: Option<i32>,
    refusal: Option<&'static str>,
}

fn with_note(ctx: &Context<'_>, write: impl FnOnce(&mut Noted)) {
    if let Ok(note) = ctx.data::<AuditNote>()
        && let Ok(mut slot) = note.0.lock()
    {
        write(&mut slot);
    }
}

/// Tells the audit trail which school the current mutation acted on.
pub fn note_school(ctx: &Context<'_>, school_id: i32) {
    with_note(ctx, |noted| noted.school = Some(school_id));
}

/// Tells the audit trail that the current mutation refused what it was
/// given and said so in its answer (a payload of errors, no GraphQL
/// error): it is recorded with `code` (one of [`crate::error::CODES`]),
/// as a refusal with an error is, never as `OK`.
pub fn note_refusal(ctx: &Context<'_>, code: &'static str) {
    with_note(ctx, |noted| noted.refusal = Some(code));
}

/// Records every Mutation field: who, what, which school, how it ended;
/// registered on the schema per request.
#[derive(Default)]
pub struct AuditTrail {
    /// The request's variables, to read arguments given as `$variables`.
    variables: Mutex<Variables>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for AuditTrail {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Ok(mut variables) = self.variables.lock() {
            variables.clone_from(&request.variables);
        }
        next.run(ctx, request.data(AuditNote::default())).await
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.parent_type != "Mutation" || info.is_for_introspection {
            return next.run(ctx, info).await;
        }
        let action = info.name.to_owned();
        let arguments = self.arguments(&info);
        let result = next.run(ctx, info).await;
        let Some(rc) = ctx.data_opt::<RequestContext>() else { return result };
        let noted = ctx
            .data_opt::<AuditNote>()
            .and_then(|note| note.0.lock().ok().map(|mut slot| std::mem::take(&mut *slot)))
            .unwrap_or_default();
        let outcome = match &result {
            Ok(_) => noted.refusal.unwrap_or(audit::OK).to_owned(),
            Err(err) => err
                .extensions
                .as_ref()
                .and_then(|ext| ext.get("code"))
                .and_then(|code| match code {
                    Value::String(code) => Some(code.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| "INTERNAL_SERVER_ERROR".to_owned()),
        };
        let school_id = match noted.school {
            Some(id) => Some(id),
            None => school_of(rc, &arguments).await,
        };
        let mut entry = Entry::new(Actor::of(&rc.viewer), action, outcome);
        entry.school_id = school_id.filter(|id| rc.viewer.sees_school(*id));
        entry.trust_id = Some(rc.viewer.trust_id);
        entry.detail = detail(&arguments);
        audit::record_or_log(&rc.db, entry).await;
        result
    }
}

impl AuditTrail {
    /// The field's arguments with variables filled in; an argument whose
    /// variable is missing is left out.
    fn arguments(&self, info: &ResolveInfo<'_>) -> Vec<(String, Value)> {
        let variables = self.variables.lock().map(|v| v.clone()).unwrap_or_default();
        info.field
            .arguments
            .iter()
            .filter_map(|(name, value)| {
                let value =
                    value.node.clone().into_const_with(|var: Name| variables.get(&var).cloned().ok_or(()));
                value.ok().map(|v| (name.node.to_string(), v))
            })
            .collect()
    }
}

/// An argument, or a field of the `input` argument.
fn argument<'a>(arguments: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    arguments.iter().find(|(n, _)| n == name).map(|(_, v)| v).or_else(|| {
        let (_, input) = arguments.iter().find(|(n, _)| n == "input")?;
        match input {
            Value::Object(fields) => fields.get(name),
            _ => None,
        }
    })
}

fn text<'a>(arguments: &'a [(String, Value)], name: &str) -> Option<&'a str> {
    match argument(arguments, name)? {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    }
}

/// The school a mutation names: `schoolId`, a run's school, or the school
/// with the Wonde id it was given (found after the act, so a school it
/// created is named).
async fn school_of(rc: &RequestContext, arguments: &[(String, Value)]) -> Option<i32> {
    if let Some(id) = text(arguments, "schoolId") {
        return decode_as(id, NodeType::School).ok();
    }
    if let Some(id) = text(arguments, "runId") {
        let run = decode_as(id, NodeType::SyncRun).ok()?;
        return sync_run::Entity::find_by_id(run).one(&rc.db).await.ok().flatten().map(|r| r.school_id);
    }
    let wonde_id = text(arguments, "wondeSchoolId")?.trim();
    school::Entity::find()
        .filter(school::Column::WondeId.eq(wonde_id))
        .filter(school::Column::TrustId.eq(rc.viewer.trust_id))
        .one(&rc.db)
        .await
        .ok()
        .flatten()
        .map(|s| s.id)
}

/// What identifies the act beyond its school: flags, enums, numbers and
/// how many items a list had. Never a string (it could be a token, an
/// email or a name) nor an upload's contents.
fn detail(arguments: &[(String, Value)]) -> Option<String> {
    let mut parts = Vec::new();
    for (name, value) in arguments {
        match value {
            Value::Boolean(b) => parts.push(format!("{name}={b}")),
            Value::Enum(e) => parts.push(format!("{name}={e}")),
            Value::Number(n) => parts.push(format!("{name}={n}")),
            Value::List(items) => parts.push(format!("{name}: {} given", items.len())),
            _ => {}
        }
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Who acted.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditActorKind {
    /// An API token (`actorTokenId`, `actorRole`).
    Token,
    /// The operator, with `onroll` on the command line.
    Cli,
    /// The server itself, on its own schedule: `onroll serve`'s daily
    /// retention purge (docs/data-protection.md).
    Server,
}

impl AuditActorKind {
    /// The kind as the audit log's rows store it.
    fn stored(self) -> &'static str {
        match self {
            Self::Token => "TOKEN",
            Self::Cli => "CLI",
            Self::Server => "SERVER",
        }
    }
}

/// One audited act: a mutation, or a CLI command that changes data.
pub struct AuditEntry(pub audit_log::Model);

#[Object]
impl AuditEntry {
    /// When it happened (UTC).
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }

    async fn actor_kind(&self) -> AuditActorKind {
        match self.0.actor_kind.as_str() {
            "CLI" => AuditActorKind::Cli,
            "SERVER" => AuditActorKind::Server,
            _ => AuditActorKind::Token,
        }
    }

    /// The acting token's id, as `onroll token list` prints it; null for
    /// the CLI.
    async fn actor_token_id(&self) -> Option<i32> {
        self.0.actor_token_id
    }

    /// The acting token's role; null for the CLI.
    async fn actor_role(&self) -> Option<Role> {
        let role = self.0.actor_role.clone()?;
        <entity::enums::Role as sea_orm::ActiveEnum>::try_from_value(&role).ok().map(Into::into)
    }

    /// The mutation (`triggerSync`) or command (`token create`).
    async fn action(&self) -> &str {
        &self.0.action
    }

    /// `OK`, or the code it was refused with (`FORBIDDEN`, `NOT_FOUND`,
    /// `BAD_USER_INPUT`, a `WONDE_*` code...).
    async fn outcome(&self) -> &str {
        &self.0.outcome
    }

    /// The school acted on, when there was one (and it is still visible).
    async fn school(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<School>> {
        let Some(id) = self.0.school_id else { return Ok(None) };
        let rc = RequestContext::of(ctx)?;
        Ok(rc.loaders.schools.load_one(id).await.gql()?.map(School))
    }

    /// Flags, enums, numbers and list sizes of the act's arguments
    /// (`kind=FULL force=true`), or the command's ids; never a secret nor
    /// personal data.
    async fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }
}

#[derive(SimpleObject)]
pub struct AuditEntryEdge {
    pub cursor: String,
    pub node: AuditEntry,
}

/// The audit log has no total, like the event log: it only grows.
#[derive(SimpleObject)]
pub struct AuditEntryConnection {
    pub edges: Vec<AuditEntryEdge>,
    pub page_info: PageInfo,
}

impl Paged for AuditEntryConnection {
    type Node = AuditEntry;
    fn assemble(edges: Vec<(String, AuditEntry)>, page_info: PageInfo, _total: i32) -> Self {
        let edges = edges.into_iter().map(|(cursor, node)| AuditEntryEdge { cursor, node }).collect();
        Self { edges, page_info }
    }
}

/// Which audited acts to list; every condition given must hold.
#[derive(InputObject, Default)]
pub struct AuditLogFilter {
    /// Acts of this token (its id as `onroll token list` prints it).
    pub actor_token_id: Option<i32>,
    /// Only acts of this kind of actor.
    pub actor_kind: Option<AuditActorKind>,
    /// A mutation's or command's name, exactly (`triggerSync`).
    pub action: Option<String>,
    pub school_id: Option<ID>,
    /// `OK` or a refusal's code, exactly.
    pub outcome: Option<String>,
    /// At or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Before this time.
    pub until: Option<DateTime<Utc>>,
}

/// `Query.auditLog`: the trust's audited acts, newest first. Trust admins
/// only (FORBIDDEN otherwise).
pub async fn audit_log(
    ctx: &Context<'_>,
    filter: Option<AuditLogFilter>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<AuditEntryConnection> {
    let rc = RequestContext::of(ctx)?;
    if rc.viewer.role != entity::enums::Role::TrustAdmin {
        return Err(AppError::Forbidden("only trust admins read the audit log".to_owned())).gql();
    }
    let request = PageRequest::parse(first, after.as_deref()).gql()?;
    let filter = filter.unwrap_or_default();
    let school_id = filter.school_id.as_ref().map(|id| decode_as(id, NodeType::School)).transpose().gql()?;
    let select = audit::Filter {
        trust_id: Some(rc.viewer.trust_id),
        actor_token_id: filter.actor_token_id,
        actor_kind: filter.actor_kind.map(AuditActorKind::stored),
        action: filter.action,
        school_id,
        outcome: filter.outcome,
        since: filter.since,
        until: filter.until,
    }
    .select();
    // No `totalCount` to select: a rows statement only.
    let newest_first = (request, Direction::NewestFirst);
    connection_by_key(ctx, select, audit_log::Column::Id, |m| m.id.into(), newest_first, AuditEntry).await
}

/// A school's ID for the audit log's rows (CLI output).
pub fn school_id_text(id: i32) -> String {
    encode(NodeType::School, id).0
}

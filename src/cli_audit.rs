//! The CLI and the audit log: every command that changes data is recorded
//! as the `cli` actor once it ends (`OK` or `ERROR`), and `onroll audit
//! list` prints the log. Recorded details are ids, flags and counts: never
//! a token, a file's contents or a name.

use crate::cli_out::say;
use entity::api_token;
use sea_orm::{DatabaseConnection, EntityTrait};

use crate::audit::{self, Actor, Entry};
use crate::cli::{open, parse_id};
use crate::cli_args::Command;
use crate::config::DatabaseConfig;
use crate::graphql::ids::{NodeType, encode};
use crate::graphql::pagination::{Direction, PageRequest, page_by_key};

/// The school the command created (`school create`): its row names it,
/// though the id is known only once the command has run. One command runs
/// per process.
static CREATED_SCHOOL: std::sync::OnceLock<i32> = std::sync::OnceLock::new();

/// Tells the audit row which school the command created.
pub(crate) fn note_created_school(id: i32) {
    let _ = CREATED_SCHOOL.set(id);
}

/// A data-changing command, as it will be recorded.
pub(crate) struct CliAct {
    database: DatabaseConfig,
    action: &'static str,
    school: Option<String>,
    trust: Option<String>,
    token: Option<String>,
    /// The person a subject access export read: the row names their
    /// school (and so their trust), found when the act is recorded.
    person: Option<(entity::enums::PersonKind, i32)>,
    detail: Option<String>,
}

impl CliAct {
    /// The act `command` is, or `None` for one that changes no data
    /// (`serve`, `schema`, lists, a dry run...).
    pub(crate) fn of(command: &Command) -> Option<Self> {
        use crate::cli_args::{
            CatalogCommand, HeldCommand, RetentionCommand, SchoolCommand, TokenCommand, TrustCommand,
        };
        let act = |database: &DatabaseConfig, action| Self {
            database: database.clone(),
            action,
            school: None,
            trust: None,
            token: None,
            person: None,
            detail: None,
        };
        Some(match command {
            Command::Trust { command: TrustCommand::Create { database, .. } } => {
                act(database, "trust create")
            }
            Command::Trust { command: TrustCommand::Retention { trust, days, database } } => {
                let mut a = act(database, "trust retention");
                a.trust = Some(trust.clone());
                a.detail = Some(format!("days={days}"));
                a
            }
            // Each trust's purge is recorded by the purge itself, with its counts.
            Command::Retention { command: RetentionCommand::Purge { database } } => {
                act(database, "retention purge")
            }
            // A subject access export reads, but who read whose data is
            // what a DPO must be able to show: the person's id, never data.
            Command::ExportPerson { id, database } => {
                let mut a = act(database, "export-person");
                a.person = crate::cli_retention::person(id).ok();
                a.detail = a.person.map(|(kind, id)| format!("person={} id={id}", kind.as_str()));
                a
            }
            Command::School { command: SchoolCommand::Create { trust, database, .. } } => {
                let mut a = act(database, "school create");
                a.trust = Some(trust.clone());
                a
            }
            Command::Token { command: TokenCommand::Create { role, trust, school, scope, database, .. } } => {
                let mut a = act(database, "token create");
                a.trust.clone_from(trust);
                a.school = school.first().cloned();
                let scopes = if scope.is_empty() { "none".to_owned() } else { scope.join(",") };
                a.detail = Some(format!(
                    "role={} schools={} scopes={scopes}",
                    entity::enums::Role::from(*role).as_str(),
                    school.len()
                ));
                a
            }
            Command::Token { command: TokenCommand::Revoke { id, database } } => {
                let mut a = act(database, "token revoke");
                a.token = Some(id.clone());
                a.detail = Some(format!("token={}", id.trim()));
                a
            }
            Command::Catalog { command: CatalogCommand::Refresh { full, database, .. } } => {
                let mut a = act(database, "catalog refresh");
                a.detail = Some(format!("full={full}"));
                a
            }
            Command::Sync { school, full, force, dry_run: false, database, .. } => {
                let mut a = act(database, "sync");
                a.school = Some(school.clone());
                a.detail = Some(format!("full={full} force={force}"));
                a
            }
            Command::Held { command: HeldCommand::Approve(d) | HeldCommand::Reject(d) } => {
                let approve = matches!(command, Command::Held { command: HeldCommand::Approve(_) });
                let mut a = act(&d.database, if approve { "held approve" } else { "held reject" });
                a.school = Some(d.school.clone());
                a.detail = Some(if d.all { "all".to_owned() } else { format!("ids: {} given", d.ids.len()) });
                a
            }
            Command::ImportCsv { school, students, staff, guardians, full, force, database, .. } => {
                let mut a = act(database, "import-csv");
                a.school = Some(school.clone());
                let files: Vec<&str> = [("students", students), ("staff", staff), ("guardians", guardians)]
                    .into_iter()
                    .filter(|(_, file)| file.is_some())
                    .map(|(name, _)| name)
                    .collect();
                a.detail = Some(format!("full={full} force={force} files={}", files.join(",")));
                a
            }
            _ => return None,
        })
    }

    /// Records the act with how it ended. A failure to record is told on
    /// stderr; the command's own outcome stands.
    pub(crate) async fn record(self, succeeded: bool) {
        // A command that failed because its database cannot be opened left
        // nothing to record; its own error already says why, once.
        let db = match open(&self.database).await {
            Ok(db) => db,
            Err(_) if !succeeded => return,
            Err(err) => {
                eprintln!(
                    "warning: the audit log could not record this command: {}",
                    crate::cli::report(&err)
                );
                return;
            }
        };
        let recorded = async {
            let mut entry = Entry::new(Actor::Cli, self.action, if succeeded { audit::OK } else { "ERROR" });
            entry.school_id = match (self.school.as_deref(), self.person) {
                (Some(school), _) => parse_id(school, NodeType::School).ok(),
                // A failed lookup still records the act, without a school.
                (None, Some((kind, id))) => {
                    crate::cli_retention::school_of(&db, kind, id).await.ok().flatten()
                }
                (None, None) => CREATED_SCHOOL.get().copied(),
            };
            entry.trust_id = match (&self.trust, &self.token) {
                (Some(trust), _) => parse_id(trust, NodeType::Trust).ok(),
                (None, Some(token)) => token_trust(&db, token).await,
                _ => None,
            };
            entry.detail = self.detail;
            audit::record(&db, entry).await?;
            anyhow::Ok(())
        };
        if let Err(err) = recorded.await {
            eprintln!("warning: the audit log could not record this command: {}", crate::cli::report(&err));
        }
    }
}

async fn token_trust(db: &DatabaseConnection, token: &str) -> Option<i32> {
    let id: i32 = token.trim().parse().ok()?;
    api_token::Entity::find_by_id(id).one(db).await.ok().flatten().map(|t| t.trust_id)
}

/// `onroll audit list`'s filters.
#[derive(clap::Args, Debug)]
pub(crate) struct ListArgs {
    /// Only this trust's acts: its ID as `trust create` printed it.
    #[arg(long)]
    trust: Option<String>,
    /// Only acts on this school.
    #[arg(long)]
    school: Option<String>,
    /// Only acts of this API token (its id as `token list` prints it).
    #[arg(long)]
    token: Option<i32>,
    /// Only this action (`triggerSync`, `token create`...).
    #[arg(long)]
    action: Option<String>,
    /// Only this outcome (`OK`, `FORBIDDEN`, `ERROR`...).
    #[arg(long)]
    outcome: Option<String>,
    /// How many rows, newest first (at most 100).
    #[arg(long, default_value_t = 50)]
    limit: i32,
    #[command(flatten)]
    database: DatabaseConfig,
}

/// `onroll audit list`: newest first, one line per act, then a count.
pub(crate) async fn list(args: ListArgs) -> anyhow::Result<()> {
    let filter = audit::Filter {
        trust_id: args.trust.as_deref().map(|t| parse_id(t, NodeType::Trust)).transpose()?,
        school_id: args.school.as_deref().map(|s| parse_id(s, NodeType::School)).transpose()?,
        actor_token_id: args.token,
        action: args.action,
        outcome: args.outcome,
        ..audit::Filter::default()
    };
    let request = PageRequest::parse(Some(args.limit), None)?;
    let db = open(&args.database).await?;
    let page = page_by_key(
        &db,
        filter.select(),
        entity::audit_log::Column::Id,
        |m| m.id.into(),
        request,
        Direction::NewestFirst,
        false,
    )
    .await?;
    say!(
        "{:>6}  {:<20} {:<24} {:<20} {:<18} {:<18} {:<24} detail",
        "id",
        "at",
        "actor",
        "action",
        "trust",
        "school",
        "outcome"
    );
    for (_, row) in &page.items {
        // The server's own acts (`serve`'s retention purge) are not the
        // operator's, though neither has a token.
        let actor = match (row.actor_token_id, row.actor_role.as_deref(), row.actor_kind.as_str()) {
            (Some(id), Some(role), _) => format!("token {id} ({role})"),
            (_, _, "SERVER") => "server".to_owned(),
            _ => "cli".to_owned(),
        };
        let line = format!(
            "{:>6}  {:<20} {:<24} {:<20} {:<18} {:<18} {:<24} {}",
            row.id,
            crate::cli_tokens::timestamp(row.occurred_at),
            actor,
            row.action,
            row.trust_id.map_or_else(|| "-".to_owned(), |t| encode(NodeType::Trust, t).0),
            row.school_id.map_or_else(|| "-".to_owned(), |s| encode(NodeType::School, s).0),
            row.outcome,
            row.detail.as_deref().unwrap_or("")
        );
        say!("{}", line.trim_end());
    }
    say!("{} shown", page.items.len());
    Ok(())
}

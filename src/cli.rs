//! The `onroll` command line (operations.md). Output meant for scripts (an
//! ID, a token, the SDL) goes to stdout, last line; logs go to stderr.
//! This module runs the commands; their grammar is `cli_args.rs`.

use crate::cli_out::{say, say_raw};
use clap::Parser;
use std::process::ExitCode;

use anyhow::Context as _;
use entity::enums::{SyncKind, SyncStatus};
use indicatif::ProgressBar;
use sea_orm::EntityTrait;
use std::path::Path;

use crate::cli_args::{
    AuditCommand, CatalogCommand, Cli, Command, HeldCommand, RetentionCommand, SchoolCommand, TokenCommand,
    TrustCommand,
};
use crate::config::{DatabaseConfig, SyncConfig};
use crate::crypto::SecretKey;
use crate::events::EventBus;
use crate::graphql::ids::{NodeType, decode_as};
use crate::server::{Application, shutdown_signal};
use crate::server::{Services, sync_engine, wonde_client};
use crate::sync::csv_import::{CsvImportOutcome, CsvImporter};
use crate::sync::csv_source::{CsvFiles, MAX_FILE_BYTES};
use crate::tenancy::{self, TokenSpec};

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo syncs every few seconds; a line per run would bury its
    // welcome. The benchmark's hundreds of runs and servers, its table.
    let filter = match cli.command {
        Command::Demo(_) => "warn,onroll=info,onroll::sync::engine=warn",
        Command::Bench { .. } => "warn",
        // The migrations' `IF NOT EXISTS` makes PostgreSQL send a notice
        // per existing table, which sqlx logs at INFO: noise to everyone.
        Command::Serve(_) | Command::Migrate(_) => "info,sqlx::postgres::notice=warn",
        // A one-shot command prints its answer; the migrations it checks
        // first speak only when something goes wrong.
        _ => "info,sqlx::postgres::notice=warn,sea_orm_migration=warn",
    };
    if let Err(err) = crate::logging::init(filter) {
        eprintln!("error: {err}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let act = crate::cli_audit::CliAct::of(&cli.command);
    let result = runtime.block_on(run(cli.command));
    // A run's ANALYZE goes on in the background; the runtime ends below.
    runtime.block_on(crate::sync::analyze::settled());
    if let Some(act) = act {
        runtime.block_on(act.record(result.is_ok()));
    }
    match result {
        Ok(Ended::Done) => ExitCode::SUCCESS,
        // A run that held changes did its work, and left a decision.
        Ok(Ended::Held) => ExitCode::from(HELD_EXIT),
        Err(err) => {
            eprintln!("error: {}", report(&err));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, each said once: many of our errors
/// already quote their cause in their own message, and `{:#}` would then
/// repeat it (the same sentence three times for a SQLite file that cannot
/// be opened).
pub(crate) fn report(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}

/// The exit status of `sync` and `import-csv` when the run completed with
/// changes held by the mass-deactivation guard.
pub const HELD_EXIT: u8 = 3;

/// How a command ended, when it did not fail.
enum Ended {
    Done,
    /// A run completed with changes held for a decision.
    Held,
}

fn ended(run: &entity::sync_run::Model) -> Ended {
    if crate::sync::runs::held(run) > 0 { Ended::Held } else { Ended::Done }
}

async fn run(command: Command) -> anyhow::Result<Ended> {
    match command {
        Command::Serve(config) => {
            let app = Application::build(&config).await?;
            tracing::info!(addr = %app.local_addr()?, "serving; GraphiQL at /graphql");
            app.run_until_stopped(shutdown_signal()).await?;
        }
        Command::Demo(config) => crate::demo::run(config).await?,
        Command::Migrate(database) => {
            let db = crate::db::connect(&database.database_url, None).await?;
            crate::db::migrate(&db).await?;
            say!("migrations applied");
        }
        Command::Schema => say_raw!("{}", crate::graphql::sdl()),
        Command::Bench { quick, postgres, tiny } => {
            let mode = match (quick, tiny) {
                (_, true) => crate::bench::Mode::Tiny,
                (true, false) => crate::bench::Mode::Quick,
                (false, false) => crate::bench::Mode::Full,
            };
            say_raw!("{}", crate::bench::run(mode, postgres).await?);
        }
        Command::Trust { command: TrustCommand::Create { name, database } } => {
            let db = open(&database).await?;
            let trust = tenancy::create_trust(&db, &name).await?;
            say!("{}", crate::graphql::ids::encode(NodeType::Trust, trust.id).0);
        }
        Command::Trust { command: TrustCommand::Retention { trust, days, database } } => {
            let db = open(&database).await?;
            let trust_id = known(&db, &trust, NodeType::Trust).await?;
            let row = crate::retention::set_policy(&db, trust_id, days).await?;
            println!("retention: {} days", row.retention_days);
        }
        Command::Retention { command: RetentionCommand::Purge { database } } => {
            let db = open(&database).await?;
            match crate::retention::purge_now(&db, chrono::Utc::now(), crate::audit::Actor::Cli).await? {
                crate::retention::PurgeOutcome::Done(purged) => println!("purged: {}", purged.detail()),
                crate::retention::PurgeOutcome::Busy => println!("skipped: another process is purging"),
            }
        }
        Command::ExportPerson { id, database } => {
            let db = open(&database).await?;
            println!("{}", crate::cli_retention::export(&db, &id).await?);
        }
        Command::School { command: SchoolCommand::Create { trust, name, urn, postcode, database } } => {
            let db = open(&database).await?;
            let trust_id = known(&db, &trust, NodeType::Trust).await?;
            let fields = crate::schools::NewSchool::validate(&name, urn.as_deref(), postcode.as_deref())?;
            let school = crate::schools::create(&db, trust_id, fields).await?;
            crate::cli_audit::note_created_school(school.id);
            eprintln!("school {} created in trust {trust}", school.name);
            say!("{}", crate::graphql::ids::encode(NodeType::School, school.id).0);
        }
        Command::Token {
            command: TokenCommand::Create { role, trust, school, label, expires_in, scope, database },
        } => {
            let db = open(&database).await?;
            let trust_id = match trust.as_deref() {
                Some(typed) => Some(known(&db, typed, NodeType::Trust).await?),
                None => None,
            };
            let mut school_ids = Vec::with_capacity(school.len());
            for typed in &school {
                school_ids.push(known(&db, typed, NodeType::School).await?);
            }
            let spec =
                TokenSpec { role: role.into(), trust_id, school_ids, label, expires_in, scopes: scope };
            let (token, row) = tenancy::create_token(&db, &spec).await?;
            eprintln!("token {} created; store it now: it is not shown again", row.id);
            if let Some(at) = row.expires_at {
                eprintln!("it expires at {}", crate::cli_tokens::timestamp(at));
            }
            say!("{token}");
        }
        Command::Token { command: TokenCommand::List { trust, database } } => {
            crate::cli_tokens::list(&database, trust.as_deref()).await?;
        }
        Command::Token { command: TokenCommand::Revoke { id, database } } => {
            crate::cli_tokens::revoke(&database, &id).await?;
        }
        Command::Catalog { command: CatalogCommand::Refresh { full, database, sync } } => {
            let db = open(&database).await?;
            let token = sync.wonde_app_token.clone().map(crate::wonde::SecretToken::new);
            let token = token.ok_or_else(|| {
                anyhow::anyhow!("the catalog needs the app's Wonde token: set WONDE_APP_TOKEN")
            })?;
            let mode = if full {
                crate::catalog::RefreshMode::Full
            } else {
                crate::catalog::RefreshMode::Incremental
            };
            match crate::catalog::refresh(&db, &wonde_client(&sync)?, &token, mode).await? {
                crate::catalog::RefreshOutcome::Completed { schools, with_status } => {
                    say!("catalog refreshed: {schools} schools read, {with_status} with an access status");
                }
                crate::catalog::RefreshOutcome::Skipped(why) => say!("skipped: {why}; run with --full"),
                crate::catalog::RefreshOutcome::Busy => {
                    say!("skipped: another process is refreshing the catalog")
                }
            }
        }
        Command::Sync { school, full, force, dry_run, database, sync } => {
            // Configuration first: a bad Wonde URL is that, not a missing school.
            wonde_client(&sync)?;
            let db = open(&database).await?;
            let school_id = known(&db, &school, NodeType::School).await?;
            // Refused before any run is recorded: a run that could only fail
            // would print its error twice and stay in the history.
            match crate::connections::not_wonde_fed(&db, school_id).await? {
                Some(crate::connections::NotWondeFed::CsvFed) => anyhow::bail!(
                    "school `{school}` is fed by CSV files, not Wonde: import them with \
                     `onroll import-csv --school {school} ...`"
                ),
                Some(crate::connections::NotWondeFed::NotApproved(status)) => anyhow::bail!(
                    "school `{school}` cannot sync from Wonde: its access is {}, not APPROVED",
                    status.as_str()
                ),
                None => {}
            }
            let kind = if full { SyncKind::Full } else { SyncKind::Incremental };
            if dry_run {
                let engine = sync_engine(&services(&database, &sync).await?, &sync);
                crate::cli_held::print_preview(&engine.preview(school_id, kind).await?);
                return Ok(Ended::Done);
            }
            let run = sync_in_foreground(&database, &sync, school_id, kind, force).await?;
            print_run(&run);
            if run.status != SyncStatus::Completed {
                anyhow::bail!("the run ended {}: {}", run.status.as_str(), run.error.unwrap_or_default());
            }
            return Ok(ended(&run));
        }
        Command::Held { command } => crate::cli_held::run(command_of(command)).await?,
        Command::Audit { command: AuditCommand::List(args) } => crate::cli_audit::list(args).await?,
        Command::ImportCsv {
            school,
            students,
            staff,
            guardians,
            full,
            force,
            deactivation_guard,
            database,
        } => {
            let db = open(&database).await?;
            let school_id = known(&db, &school, NodeType::School).await?;
            let files = CsvFiles {
                students: students.as_deref().map(read_upload).transpose()?,
                staff: staff.as_deref().map(read_upload).transpose()?,
                guardians: guardians.as_deref().map(read_upload).transpose()?,
            };
            let importer = CsvImporter {
                db,
                events: EventBus::default(),
                guard_share: deactivation_guard,
                worker: crate::sync::runs::worker_name(),
            };
            match importer.import(school_id, files, full, force).await? {
                CsvImportOutcome::Refused(errors) => {
                    for error in &errors {
                        say!("{error}");
                    }
                    // Past the cap, the last line counts the errors not listed.
                    let count = match errors.len() {
                        1 => "1 error".to_owned(),
                        n if n > crate::sync::csv_source::MAX_ERRORS => {
                            format!("the first {} errors", crate::sync::csv_source::MAX_ERRORS)
                        }
                        n => format!("{n} errors"),
                    };
                    anyhow::bail!("the files were refused ({count} above); nothing was changed");
                }
                CsvImportOutcome::Ran(run) => {
                    print_run(&run);
                    if run.status != SyncStatus::Completed {
                        anyhow::bail!(
                            "the import ended {}: {}",
                            run.status.as_str(),
                            run.error.unwrap_or_default()
                        );
                    }
                    return Ok(ended(&run));
                }
            }
        }
    }
    Ok(Ended::Done)
}

fn command_of(command: HeldCommand) -> crate::cli_held::HeldAction {
    use crate::cli_held::HeldAction;
    match command {
        HeldCommand::List { school, decided, database } => HeldAction::List { school, decided, database },
        HeldCommand::Approve(d) => HeldAction::Decide {
            approve: true,
            school: d.school,
            ids: d.ids,
            all: d.all,
            database: d.database,
        },
        HeldCommand::Reject(d) => HeldAction::Decide {
            approve: false,
            school: d.school,
            ids: d.ids,
            all: d.all,
            database: d.database,
        },
    }
}

/// Reads a file to import; one past the size limit is read only that far,
/// enough for the validation to refuse it.
fn read_upload(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(MAX_FILE_BYTES).unwrap_or(u64::MAX).saturating_add(1);
    file.take(limit).read_to_end(&mut bytes).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(bytes)
}

async fn sync_in_foreground(
    database: &DatabaseConfig,
    config: &SyncConfig,
    school_id: i32,
    kind: SyncKind,
    force: bool,
) -> anyhow::Result<entity::sync_run::Model> {
    let services = services(database, config).await?;
    let school = entity::school::Entity::find_by_id(school_id).one(&services.db).await?;
    let school = school.ok_or_else(|| anyhow::anyhow!("no school with id {school_id}"))?;
    let engine = sync_engine(&services, config);
    let mut progress = services.events.subscribe();
    let bar = ProgressBar::new_spinner().with_message(format!("{}: queued", school.name));
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let run = tokio::spawn(async move { engine.run_now(school_id, kind, force).await });
    tokio::pin!(run);
    loop {
        tokio::select! {
            finished = &mut run => {
                bar.finish_and_clear();
                return Ok(finished??);
            }
            event = progress.recv() => {
                if let Ok(event) = event
                    && event.school_id == school_id
                    && let Some(payload) = event.payload.as_deref()
                    && let Ok(value) = serde_json::from_str::<serde_json::Value>(payload)
                {
                    let phase = value["phase"].as_str().unwrap_or_default();
                    let processed = value["processed"].as_i64().unwrap_or_default();
                    bar.set_message(format!("{}: {phase}, {processed} records", school.name));
                }
            }
        }
    }
}

/// What a sync needs from the command line's configuration.
async fn services(database: &DatabaseConfig, config: &SyncConfig) -> anyhow::Result<Services> {
    let db = open(database).await?;
    Ok(Services {
        secret_key: SecretKey::resolve(database.secret_key.as_deref(), &database.database_url)?,
        db,
        webhook_secret: None,
        events: EventBus::default(),
        sync_wake: Default::default(),
        wonde: wonde_client(config)?,
        wonde_app_token: None,
    })
}

fn print_run(run: &entity::sync_run::Model) {
    say!("run {} ({}) {}", run.id, run.kind.as_str(), run.status.as_str());
    crate::cli_held::print_counts(&run.counts_by_record());
    if let Some(error) = &run.error {
        say!("error: {error}");
    }
    let held = crate::sync::runs::held(run);
    if held > 0 {
        let school = crate::graphql::ids::encode(NodeType::School, run.school_id).0;
        eprintln!(
            "the mass-deactivation guard held {held} changes for a decision: nobody lost access through them.\n\
             see them with `onroll held list --school {school}`, then decide with \
             `onroll held approve --school {school} --all` (or --id N) or `onroll held reject ...`"
        );
    }
}

/// The database a command names, connected and migrated once per process:
/// the audit row a command leaves (`cli_audit`) reuses the command's own
/// connection rather than connecting and checking the migrations again.
pub(crate) async fn open(database: &DatabaseConfig) -> anyhow::Result<sea_orm::DatabaseConnection> {
    static OPENED: tokio::sync::Mutex<Option<(String, sea_orm::DatabaseConnection)>> =
        tokio::sync::Mutex::const_new(None);
    let mut opened = OPENED.lock().await;
    if let Some((url, db)) = opened.as_ref()
        && *url == database.database_url
    {
        return Ok(db.clone());
    }
    let db = crate::db::connect(&database.database_url, None).await?;
    crate::db::migrate(&db).await?;
    *opened = Some((database.database_url.clone(), db.clone()));
    Ok(db)
}

/// The row a typed school or trust ID names, or an error naming it as it
/// was typed: the user never sees our internal number for their input.
pub(crate) async fn known(
    db: &sea_orm::DatabaseConnection,
    typed: &str,
    kind: NodeType,
) -> anyhow::Result<i32> {
    use sea_orm::EntityTrait;
    let id = parse_id(typed, kind)?;
    let exists = match kind {
        NodeType::Trust => entity::trust::Entity::find_by_id(id).one(db).await?.is_some(),
        _ => entity::school::Entity::find_by_id(id).one(db).await?.is_some(),
    };
    if !exists {
        let noun = if kind == NodeType::Trust { "trust" } else { "school" };
        anyhow::bail!("no {noun} `{typed}`");
    }
    Ok(id)
}

/// Accepts a global ID as the API and `trust create` print it, or a bare
/// number as an operator reading the database would.
pub(crate) fn parse_id(text: &str, kind: NodeType) -> anyhow::Result<i32> {
    if let Ok(number) = text.parse::<i32>() {
        return Ok(number);
    }
    Ok(decode_as(text, kind)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Causes already quoted by their error are not said again.
    #[test]
    fn report_says_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = anyhow::Error::new(io).context("opening x: no such file").context("starting");
        assert_eq!(report(&err), "starting: opening x: no such file");
    }
}

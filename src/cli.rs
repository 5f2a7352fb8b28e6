//! The `onroll` command line (operations.md). Output meant for scripts (an
//! ID, a token, the SDL) goes to stdout, last line; logs go to stderr.

use crate::cli_out::{say, say_raw};
use clap::{Parser, Subcommand, ValueEnum};
use entity::enums::Role;
use std::process::ExitCode;

use anyhow::Context as _;
use entity::enums::{SyncKind, SyncStatus};
use indicatif::ProgressBar;
use sea_orm::EntityTrait;
use std::path::{Path, PathBuf};

use crate::config::{DatabaseConfig, ServeConfig, SyncConfig, parse_share};
use crate::crypto::SecretKey;
use crate::events::EventBus;
use crate::graphql::ids::{NodeType, decode_as};
use crate::server::{Application, shutdown_signal};
use crate::server::{Services, sync_engine, wonde_client};
use crate::sync::csv_import::{CsvImportOutcome, CsvImporter};
use crate::sync::csv_source::{CsvFiles, MAX_FILE_BYTES};
use crate::tenancy::{self, TokenSpec};

#[derive(Parser, Debug)]
#[command(name = "onroll", version, about = "A trust's school directory, mirrored from Wonde, over GraphQL")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Apply pending migrations, then serve HTTP until SIGTERM or Ctrl-C.
    Serve(ServeConfig),
    /// `serve` plus an in-process Wonde simulator with a generated trust,
    /// connected and synced at start; prints the URL and an admin token.
    Demo(crate::demo::DemoConfig),
    /// Apply pending migrations and exit.
    Migrate(DatabaseConfig),
    /// Print the GraphQL SDL (schema.graphql is exactly this output).
    Schema,
    /// Manage trusts.
    Trust {
        #[command(subcommand)]
        command: TrustCommand,
    },
    /// Manage schools fed by CSV (Wonde schools are connected with `connectWonde`).
    School {
        #[command(subcommand)]
        command: SchoolCommand,
    },
    /// The local mirror of Wonde's school directory.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// The audit log: every mutation and every data-changing command.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Run one sync of a school in the foreground, with a progress bar.
    Sync {
        /// The school: its ID as the API shows it.
        #[arg(long)]
        school: String,
        /// A FULL run (everything, absences reconciled) instead of INCREMENTAL.
        #[arg(long)]
        full: bool,
        /// Bypass the mass-deactivation guard for this run.
        #[arg(long)]
        force: bool,
        /// Show what the run would change, changing nothing: no write, no
        /// event, the watermark stays.
        #[arg(long, conflicts_with = "force")]
        dry_run: bool,
        #[command(flatten)]
        database: DatabaseConfig,
        #[command(flatten)]
        sync: SyncConfig,
    },
    /// Retention of leavers' data (docs/data-protection.md).
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Print everything held about one person across their trust as one
    /// JSON document (a subject access request; docs/data-protection.md).
    ExportPerson {
        /// The person: a Student, Staff or Guardian ID as the API shows it.
        id: String,
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// Changes the mass-deactivation guard held for a decision.
    Held {
        #[command(subcommand)]
        command: HeldCommand,
    },
    /// Import a school's CSV files (the alternative to Wonde). Every row is
    /// validated first: if any is wrong, the errors are printed with their
    /// line numbers and nothing changes.
    ImportCsv {
        /// The school: its ID as the API shows it.
        #[arg(long)]
        school: String,
        /// students.csv: id, forename, surname (required), upn, upi, mis_id,
        /// email, year, form, classes, leaving_date, status.
        #[arg(long)]
        students: Option<PathBuf>,
        /// staff.csv: id, forename, surname (required), upi, mis_id, title,
        /// email, forms, classes, employment_end, status.
        #[arg(long)]
        staff: Option<PathBuf>,
        /// guardians.csv, one row per guardian and child: id, surname,
        /// student_id (required), upi, mis_id, title, forename, email,
        /// status, relationship, parental_responsibility,
        /// lives_with_student, priority. Needs --students.
        #[arg(long)]
        guardians: Option<PathBuf>,
        /// The files are everything: accounts of a given file's type that
        /// it lacks are deactivated (REMOVED_FROM_MIS).
        #[arg(long)]
        full: bool,
        /// Bypass the mass-deactivation guard for this import.
        #[arg(long)]
        force: bool,
        /// The share of a school's active accounts of one kind that the
        /// files' silence may deactivate before the mass-deactivation guard
        /// holds those changes for a decision.
        #[arg(long, env = "ONROLL_DEACTIVATION_GUARD", default_value_t = 0.5, value_parser = parse_share)]
        deactivation_guard: f64,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum AuditCommand {
    /// List audited acts, newest first: who (a token's id and role, or
    /// cli), what, where, when, how it ended.
    List(crate::cli_audit::ListArgs),
}

#[derive(Subcommand, Debug)]
pub(crate) enum HeldCommand {
    /// List a school's held changes (pending ones, unless --decided).
    List {
        /// The school: its ID as the API shows it.
        #[arg(long)]
        school: String,
        /// List decided and withdrawn ones instead of pending ones.
        #[arg(long)]
        decided: bool,
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// Apply held changes (with the ordinary cascade and events).
    Approve(Decide),
    /// Discard held changes: the accounts stay active.
    Reject(Decide),
}

#[derive(clap::Args, Debug)]
pub(crate) struct Decide {
    /// The school: its ID as the API shows it.
    #[arg(long)]
    pub(crate) school: String,
    /// A held change's id as `held list` prints it. Repeatable.
    #[arg(long = "id", required_unless_present = "all")]
    pub(crate) ids: Vec<String>,
    /// Every pending held change of the school.
    #[arg(long, conflicts_with = "ids")]
    pub(crate) all: bool,
    #[command(flatten)]
    pub(crate) database: DatabaseConfig,
}

#[derive(Subcommand, Debug)]
pub(crate) enum TrustCommand {
    /// Create a trust; prints its ID as the last line.
    Create {
        /// The trust's name, as its schools and administrators know it.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// Set how many days a deactivated account's personal data is kept
    /// after its deactivation (default 365; 0 turns purging off).
    Retention {
        /// The trust: its ID as `trust create` printed it.
        #[arg(long)]
        trust: String,
        /// Days, 0 to 3650; 0: never purge.
        #[arg(long)]
        days: i32,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum RetentionCommand {
    /// Purge now what has passed each trust's retention period (`serve`
    /// does this daily); prints the counts.
    Purge {
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum SchoolCommand {
    /// Create a school fed by CSV files (`import-csv`), with no Wonde
    /// connection; prints its ID as the last line.
    Create {
        /// The trust: its ID as `trust create` printed it.
        #[arg(long)]
        trust: String,
        /// The school's name.
        #[arg(long)]
        name: String,
        /// Its URN (6 to 8 digits); a URN already in the trust is refused.
        #[arg(long)]
        urn: Option<String>,
        /// Its UK postcode.
        #[arg(long)]
        postcode: Option<String>,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum CatalogCommand {
    /// Refresh it now: incremental (changes since the last refresh), or
    /// with --full the whole directory. `serve` does this by itself daily.
    Refresh {
        /// Read Wonde's whole directory instead of the changes since the last refresh.
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        database: DatabaseConfig,
        #[command(flatten)]
        sync: SyncConfig,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum TokenCommand {
    /// Create a token; prints it as the last line. It is shown only once.
    Create {
        /// What the token may do: trust-admin (its whole trust), school-admin (its schools), integrator (read and subscribe).
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The trust (trust-admin, integrator): its ID as `trust create` printed it.
        #[arg(long)]
        trust: Option<String>,
        /// A school the token may see (school-admin: required; integrator: optional). Repeatable.
        #[arg(long)]
        school: Vec<String>,
        /// A note for operators: who or what holds the token.
        #[arg(long)]
        label: Option<String>,
        /// How long the token works: a number with s, m, h or d ("90m",
        /// "30d"). Without it, the token works until revoked.
        #[arg(long, value_parser = crate::cli_tokens::parse_expires_in)]
        expires_in: Option<chrono::Duration>,
        /// What the token may see beyond its role's default. Repeatable.
        /// `contact-details`: guardians' and staff's emails and phone
        /// numbers, which integrators see only with it (admins always do).
        #[arg(long)]
        scope: Vec<String>,
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// List tokens: id, role, trust, schools, status, created, last used,
    /// expiry, revocation, label. Never the secret.
    List {
        /// Only this trust's tokens: its ID as `trust create` printed it.
        #[arg(long)]
        trust: Option<String>,
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// Revoke a token: refused from its next request, and its open sockets
    /// closed (4403) on every server within a second.
    Revoke {
        /// The token's id as `token list` prints it.
        id: String,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum RoleArg {
    TrustAdmin,
    SchoolAdmin,
    Integrator,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::TrustAdmin => Self::TrustAdmin,
            RoleArg::SchoolAdmin => Self::SchoolAdmin,
            RoleArg::Integrator => Self::Integrator,
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo syncs every few seconds; a line per run would bury its welcome.
    let quiet = matches!(cli.command, Command::Demo(_));
    if let Err(err) =
        crate::logging::init(if quiet { "warn,onroll=info,onroll::sync::engine=warn" } else { "info" })
    {
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
            match crate::retention::purge_now(&db, chrono::Utc::now()).await? {
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
                    anyhow::bail!(
                        "the files were refused ({} errors above); nothing was changed",
                        errors.len()
                    );
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
    let r = run;
    crate::cli_held::print_counts(&[
        (
            "students",
            [
                r.students_created,
                r.students_updated,
                r.students_deactivated,
                r.students_reactivated,
                r.students_held,
            ],
        ),
        ("staff", [r.staff_created, r.staff_updated, r.staff_deactivated, r.staff_reactivated, r.staff_held]),
        (
            "guardians",
            [
                r.guardians_created,
                r.guardians_updated,
                r.guardians_deactivated,
                r.guardians_reactivated,
                r.guardians_held,
            ],
        ),
        (
            "groups",
            [r.groups_created, r.groups_updated, r.groups_deactivated, r.groups_reactivated, r.groups_held],
        ),
    ]);
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

pub(crate) async fn open(database: &DatabaseConfig) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let db = crate::db::connect(&database.database_url, None).await?;
    crate::db::migrate(&db).await?;
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
    use clap::CommandFactory;

    /// Every command and every flag says what it is for in `--help`.
    #[test]
    fn every_command_and_flag_is_described() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                let sub_path = format!("{path} {}", sub.get_name());
                if sub.get_name() != "help" && sub.get_about().is_none() {
                    missing.push(sub_path.clone());
                }
                walk(sub, &sub_path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "onroll", &mut missing);
        assert!(missing.is_empty(), "without a description: {missing:?}");
    }

    /// A command shows only the flags it uses: the schedule belongs to
    /// `serve`, not to a one-off `sync`.
    #[test]
    fn one_off_commands_do_not_show_the_schedule() {
        let cli = Cli::command();
        let flags = |name: &str| -> Vec<String> {
            cli.find_subcommand(name)
                .map(|c| c.get_arguments().map(|a| a.get_id().to_string()).collect())
                .unwrap_or_default()
        };
        assert!(flags("serve").contains(&"full_sync_every".to_owned()));
        for one_off in ["sync", "import-csv"] {
            let shown = flags(one_off);
            assert!(!shown.is_empty(), "no command {one_off}");
            assert!(!shown.iter().any(|f| f.ends_with("_sync_every")), "{one_off} shows {shown:?}");
        }
    }

    /// Causes already quoted by their error are not said again.
    #[test]
    fn report_says_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = anyhow::Error::new(io).context("opening x: no such file").context("starting");
        assert_eq!(report(&err), "starting: opening x: no such file");
    }
}

//! The `onroll` command line (operations.md). Output meant for scripts (an
//! ID, a token, the SDL) goes to stdout, last line; logs go to stderr.

use clap::{Parser, Subcommand, ValueEnum};
use entity::enums::Role;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

use crate::config::{DatabaseConfig, ServeConfig};
use crate::graphql::ids::{NodeType, decode_as};
use crate::server::{Application, shutdown_signal};
use crate::tenancy::{self, TokenSpec};

#[derive(Parser, Debug)]
#[command(name = "onroll", version, about = "A trust's school directory, mirrored from Wonde, over GraphQL")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Apply pending migrations, then serve HTTP until SIGTERM or Ctrl-C.
    Serve(ServeConfig),
    /// Apply pending migrations and exit.
    Migrate(DatabaseConfig),
    /// Print the GraphQL SDL (schema.graphql is exactly this output).
    Schema,
    /// Manage trusts.
    Trust {
        #[command(subcommand)]
        command: TrustCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Subcommand, Debug)]
enum TrustCommand {
    /// Create a trust; prints its ID as the last line.
    Create {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create a token; prints it as the last line. It is shown only once.
    Create {
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
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RoleArg {
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
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(config) => {
            let app = Application::build(&config).await?;
            tracing::info!(addr = %app.local_addr()?, "serving; GraphiQL at /graphql");
            app.run_until_stopped(shutdown_signal()).await?;
        }
        Command::Migrate(database) => {
            let db = crate::db::connect(&database.database_url, None).await?;
            crate::db::migrate(&db).await?;
            println!("migrations applied");
        }
        Command::Schema => print!("{}", crate::graphql::sdl()),
        Command::Trust { command: TrustCommand::Create { name, database } } => {
            let db = open(&database).await?;
            let trust = tenancy::create_trust(&db, &name).await?;
            println!("{}", crate::graphql::ids::encode(NodeType::Trust, trust.id).0);
        }
        Command::Token { command: TokenCommand::Create { role, trust, school, label, database } } => {
            let db = open(&database).await?;
            let spec = TokenSpec {
                role: role.into(),
                trust_id: trust.as_deref().map(|id| parse_id(id, NodeType::Trust)).transpose()?,
                school_ids: school
                    .iter()
                    .map(|id| parse_id(id, NodeType::School))
                    .collect::<Result<_, _>>()?,
                label,
            };
            let (token, _) = tenancy::create_token(&db, &spec).await?;
            eprintln!("store this token now: it is not shown again");
            println!("{token}");
        }
    }
    Ok(())
}

async fn open(database: &DatabaseConfig) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let db = crate::db::connect(&database.database_url, None).await?;
    crate::db::migrate(&db).await?;
    Ok(db)
}

/// Accepts a global ID as the API and `trust create` print it, or a bare
/// number as an operator reading the database would.
fn parse_id(text: &str, kind: NodeType) -> anyhow::Result<i32> {
    if let Ok(number) = text.parse::<i32>() {
        return Ok(number);
    }
    Ok(decode_as(text, kind)?)
}

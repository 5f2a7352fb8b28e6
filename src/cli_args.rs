//! The `onroll` command line's grammar: every command and flag, with the
//! help text `--help` shows. What each command does is `cli.rs`.

use clap::{Parser, Subcommand, ValueEnum};
use entity::enums::Role;
use std::path::PathBuf;

use crate::config::{DatabaseConfig, ServeConfig, SyncConfig, parse_share};

#[derive(Parser, Debug)]
#[command(name = "onroll", version, about = "A trust's school directory, mirrored from Wonde, over GraphQL")]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
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
    /// Measure this machine: FULL and INCREMENTAL syncs, leaver and webhook
    /// latency, the hot queries under load, subscription fan-out and
    /// cross-replica latency, each against a baseline from the same run.
    /// Everything runs on 127.0.0.1 in this process; prints one markdown table.
    Bench {
        /// Smaller sizes (1 and 5 schools of 200 pupils, 1,000 subscribers,
        /// 2 s load phases): under two minutes on two cores.
        #[arg(long)]
        quick: bool,
        /// Also measure PostgreSQL: a fresh schema in this database, dropped
        /// afterwards (SQLite, a temporary file, is always measured).
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
        /// The smallest sizes that still measure everything (for the tests).
        #[arg(long, hide = true, conflicts_with = "quick")]
        tiny: bool,
    },
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

#[cfg(test)]
mod tests {
    use super::Cli;
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
}

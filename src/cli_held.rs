//! `onroll held list|approve|reject` and the tables `sync` prints: what the
//! mass-deactivation guard held, and a previewed run.

use crate::cli_out::say;
use entity::enums::HeldStatus;
use entity::held_change;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::cli::{known, open};
use crate::config::DatabaseConfig;
use crate::events::EventBus;
use crate::graphql::ids::NodeType;
use crate::school_day::Clock;
use crate::sync::held;
use crate::sync::preview::Preview;

/// A `held` command, parsed.
pub(crate) enum HeldAction {
    List { school: String, decided: bool, database: DatabaseConfig },
    Decide { approve: bool, school: String, ids: Vec<String>, all: bool, database: DatabaseConfig },
}

/// Who decides from the command line, as held changes record it.
const CLI: &str = "cli";

pub(crate) async fn run(action: HeldAction) -> anyhow::Result<()> {
    match action {
        HeldAction::List { school, decided, database } => {
            let db = open(&database).await?;
            let school_id = known(&db, &school, NodeType::School).await?;
            let mut select = held_change::Entity::find().filter(held_change::Column::SchoolId.eq(school_id));
            select = if decided {
                select.filter(held_change::Column::Status.ne(HeldStatus::Pending))
            } else {
                select.filter(held_change::Column::Status.eq(HeldStatus::Pending))
            };
            let rows = select.order_by_asc(held_change::Column::Id).all(&db).await?;
            let words = held::describe(&db, &rows).await?;
            say!(
                "{:>8}  {:<22} {:<23} {:<9} {:>5}  who or what",
                "id",
                "target",
                "evidence",
                "status",
                "run"
            );
            for row in &rows {
                say!(
                    "{:>8}  {:<22} {:<23} {:<9} {:>5}  {}",
                    row.id,
                    row.target.as_str(),
                    row.evidence.as_str(),
                    row.status.as_str(),
                    row.sync_run_id.map(|r| r.to_string()).unwrap_or_default(),
                    words.get(&row.id).map(String::as_str).unwrap_or_default()
                );
            }
            say!("{} held changes", rows.len());
        }
        HeldAction::Decide { approve, school, ids, all, database } => {
            let db = open(&database).await?;
            let school_id = known(&db, &school, NodeType::School).await?;
            let ids: Vec<i32> = if all {
                held_change::Entity::find()
                    .filter(held_change::Column::SchoolId.eq(school_id))
                    .filter(held_change::Column::Status.eq(HeldStatus::Pending))
                    .all(&db)
                    .await?
                    .into_iter()
                    .map(|row| row.id)
                    .collect()
            } else {
                ids.iter().map(|id| parse_held_id(id)).collect::<anyhow::Result<_>>()?
            };
            if ids.is_empty() {
                say!("nothing is held at that school");
                return Ok(());
            }
            let decision = if approve {
                held::approve(&db, &EventBus::default(), Clock::default(), school_id, &ids, CLI).await?
            } else {
                held::reject(&db, school_id, &ids, CLI).await?
            };
            let c = decision.counts;
            say!(
                "{} {} held changes; {} withdrawn (their target had changed), {} skipped (already decided)",
                if approve { "approved" } else { "rejected" },
                decision.decided.len(),
                decision.withdrawn.len(),
                decision.skipped.len()
            );
            if approve {
                say!(
                    "deactivated {} students, {} staff, {} guardians; ended {} groups",
                    c.students.deactivated,
                    c.staff.deactivated,
                    c.guardians.deactivated,
                    c.groups.deactivated
                );
            }
        }
    }
    Ok(())
}

/// A held change's id as `held list` prints it, or as the API's opaque ID.
fn parse_held_id(text: &str) -> anyhow::Result<i32> {
    if let Ok(number) = text.parse::<i32>() {
        return Ok(number);
    }
    Ok(crate::graphql::types::decode_held(text)?)
}

/// A table of per-kind counts, in `sync_run::CHANGES` order: created,
/// updated, deactivated, reactivated, reidentified (accounts matched under
/// a new MIS key), held.
pub(crate) fn print_counts(rows: &[(&str, [i32; 6])]) {
    let [created, updated, deactivated, reactivated, reidentified, held] = entity::sync_run::CHANGES;
    say!(
        "{:<10} {created:>8} {updated:>8} {deactivated:>12} {reactivated:>12} {reidentified:>12} {held:>6}",
        ""
    );
    for (name, [created, updated, deactivated, reactivated, reidentified, held]) in rows {
        say!(
            "{name:<10} {created:>8} {updated:>8} {deactivated:>12} {reactivated:>12} {reidentified:>12} {held:>6}"
        );
    }
    // The guard holds rows of the link and membership tables too, counted
    // with the kind they belong to (`holds::held_count`): say so, or a
    // row of 40 held memberships reads as 40 groups.
    let holds_rows = |kind: &str| rows.iter().any(|(name, counts)| *name == kind && counts[5] > 0);
    if holds_rows("groups") || holds_rows("guardians") {
        say!("(held: groups include memberships of groups; guardians include guardian links)");
    }
}

/// `sync --dry-run`'s answer: the counts, then the people, then warnings.
pub(crate) fn print_preview(preview: &Preview) {
    say!("dry run ({}): nothing was changed", preview.kind.as_str());
    let c = preview.counts;
    let row = |c: crate::sync::ledger::Counts| {
        [c.created, c.updated, c.deactivated, c.reactivated, c.reidentified, c.held]
    };
    print_counts(&[
        ("students", row(c.students)),
        ("staff", row(c.staff)),
        ("guardians", row(c.guardians)),
        ("groups", row(c.groups)),
    ]);
    for person in &preview.people {
        say!(
            "{:<9} {:<12} {:<14} {} {}{}",
            person.kind.as_str(),
            format!("{:?}", person.change).to_uppercase(),
            person.source_id,
            person.forename,
            person.surname,
            person.reason.map(|r| format!(" ({})", r.as_str())).unwrap_or_default()
        );
    }
    for warning in &preview.warnings {
        say!("warning: {warning}");
    }
}

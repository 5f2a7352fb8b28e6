//! Erasing a deactivated account's personal data, as the retention job and
//! an erasure both do. What goes: names (kept as empty text, the columns
//! are NOT NULL), email, title, UPN, UPI, MIS id, and the Wonde id
//! (replaced by `purged:<id>`, which no Wonde id looks like, so the sync's
//! identity rules cannot match the row again); the account's guardian links
//! and group memberships are deleted. What stays: id, kind, school, status,
//! dates and reason, so counts, runs and the event log stay whole.
//! Onroll stores no date of birth.

use chrono::{DateTime, Utc};
use entity::enums::{AccountStatus, EventKind, HeldStatus, HeldTarget, PersonKind, SyncStatus};
use entity::{
    class_student, class_teacher, event, form_student, form_tutor, guardian, guardian_link, held_change,
    school, staff, student, sync_run, year_student,
};
use sea_orm::sea_query::{Expr, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
    TransactionTrait,
};

/// Statements carry at most this many ids (well under both engines' limits).
const CHUNK: usize = 1_000;

/// What a purge erased: accounts per kind, and rows deleted with them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub students: u64,
    pub staff: u64,
    pub guardians: u64,
    /// Guardian links deleted.
    pub links: u64,
    /// Class, form and year rows deleted.
    pub memberships: u64,
}

impl Purged {
    pub fn accounts(&self) -> u64 {
        self.students + self.staff + self.guardians
    }

    pub fn add(&mut self, other: &Self) {
        self.students += other.students;
        self.staff += other.staff;
        self.guardians += other.guardians;
        self.links += other.links;
        self.memberships += other.memberships;
    }

    /// The audit log's detail: counts only.
    pub fn detail(&self) -> String {
        format!(
            "students={} staff={} guardians={} links={} memberships={}",
            self.students, self.staff, self.guardians, self.links, self.memberships
        )
    }
}

/// Purges the trust's accounts deactivated before `cutoff` and not purged
/// yet, except those an open run of their school, a pending held change or
/// a reactivation since `cutoff` concerns; one transaction.
pub async fn purge_trust(
    db: &DatabaseConnection,
    trust_id: i32,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Purged, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let mut purged = Purged::default();
    let mut erased = Vec::new();
    for kind in [PersonKind::Student, PersonKind::Staff, PersonKind::Guardian] {
        let ids = due(&txn, kind, trust_id, cutoff).await?;
        purged.add(&purge_accounts(&txn, kind, &ids, now, &mut erased).await?);
    }
    if purged.accounts() > 0 {
        let occasion = crate::quality::Occasion::Purge { erased: &erased };
        crate::quality::refresh_trust(&txn, trust_id, occasion).await?;
    }
    txn.commit().await?;
    Ok(purged)
}

/// The ids of `kind` in the trust that the purge may erase at `cutoff`.
async fn due<C: ConnectionTrait>(
    db: &C,
    kind: PersonKind,
    trust_id: i32,
    cutoff: DateTime<Utc>,
) -> Result<Vec<i32>, DbErr> {
    let schools = Query::select()
        .column(school::Column::Id)
        .from(school::Entity)
        .and_where(school::Column::TrustId.eq(trust_id))
        .to_owned();
    let busy_schools = Query::select()
        .column(sync_run::Column::SchoolId)
        .from(sync_run::Entity)
        .and_where(sync_run::Column::Status.is_in([SyncStatus::Queued, SyncStatus::Running]))
        .to_owned();
    let reactivated = Query::select()
        .column(event::Column::PersonId)
        .from(event::Entity)
        .and_where(event::Column::Kind.eq(EventKind::Reactivated))
        .and_where(event::Column::PersonKind.eq(kind))
        .and_where(event::Column::PersonId.is_not_null())
        .and_where(event::Column::OccurredAt.gte(cutoff))
        .to_owned();
    macro_rules! due_of {
        ($entity:ident) => {
            $entity::Entity::find()
                .select_only()
                .column($entity::Column::Id)
                .filter($entity::Column::SchoolId.in_subquery(schools))
                .filter($entity::Column::SchoolId.not_in_subquery(busy_schools))
                .filter($entity::Column::Status.eq(AccountStatus::Deactivated))
                .filter($entity::Column::PurgedAt.is_null())
                .filter($entity::Column::DeactivatedAt.lt(cutoff))
                .filter($entity::Column::Id.not_in_subquery(reactivated))
                .filter($entity::Column::Id.not_in_subquery(held_ids(kind)))
                .into_tuple::<i32>()
                .all(db)
                .await
        };
    }
    match kind {
        PersonKind::Student => due_of!(student),
        PersonKind::Staff => due_of!(staff),
        PersonKind::Guardian => due_of!(guardian),
    }
}

/// Ids a pending held change may concern for `kind`: the account itself,
/// or a member of a held membership or link. Wider than exact (a member id
/// of another kind may exclude an account by chance), so an account waits
/// rather than being purged under a decision.
fn held_ids(kind: PersonKind) -> sea_orm::sea_query::SelectStatement {
    let target = match kind {
        PersonKind::Student => HeldTarget::Student,
        PersonKind::Staff => HeldTarget::Staff,
        PersonKind::Guardian => HeldTarget::Guardian,
    };
    let pending = held_change::Column::Status.eq(HeldStatus::Pending);
    let mut direct = Query::select()
        .column(held_change::Column::TargetId)
        .from(held_change::Entity)
        .and_where(pending.clone())
        .and_where(held_change::Column::Target.eq(target))
        .to_owned();
    let members = Query::select()
        .expr(Expr::col(held_change::Column::MemberId))
        .from(held_change::Entity)
        .and_where(pending.clone())
        .and_where(held_change::Column::MemberId.is_not_null())
        .to_owned();
    let link_students = Query::select()
        .expr(Expr::col(held_change::Column::GroupId))
        .from(held_change::Entity)
        .and_where(pending)
        .and_where(held_change::Column::Target.eq(HeldTarget::GuardianLink))
        .and_where(held_change::Column::GroupId.is_not_null())
        .to_owned();
    direct
        .union(sea_orm::sea_query::UnionType::All, members)
        .union(sea_orm::sea_query::UnionType::All, link_students)
        .to_owned()
}

/// `purged:<id>`: the Wonde id a purged row keeps (the column is NOT NULL
/// and unique per school).
fn purged_source_id() -> SimpleExpr {
    Expr::cust("'purged:' || CAST(id AS TEXT)")
}

/// Erases the personal data of the given deactivated, unpurged accounts of
/// `kind` and deletes their links and memberships. Ids that are active or
/// purged already are left alone. The source ids (Wonde ids, or a CSV's)
/// the accounts had, with their schools, are added to `erased`, for the
/// findings to forget (`quality::Occasion::Purge`); the runs' stored
/// warnings of their schools forget them here ([`ERASED_RECORD`]).
pub async fn purge_accounts<C>(
    db: &C,
    kind: PersonKind,
    ids: &[i32],
    now: DateTime<Utc>,
    erased: &mut Vec<(i32, String)>,
) -> Result<Purged, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let mut purged = Purged::default();
    let empty = Expr::value("");
    let null = || Expr::value(Option::<String>::None);
    for chunk in ids.chunks(CHUNK) {
        let chunk = chunk.to_vec();
        // Blanks the names, nulls the identifiers given and marks the account
        // purged: deactivated accounts of the chunk not purged yet only.
        macro_rules! scrub {
            ($module:ident, $($identifier:ident),+) => {{
                let before: Vec<(i32, String)> = $module::Entity::find()
                    .select_only()
                    .columns([$module::Column::SchoolId, $module::Column::WondeId])
                    .filter($module::Column::Id.is_in(chunk.clone()))
                    .filter($module::Column::Status.eq(AccountStatus::Deactivated))
                    .filter($module::Column::PurgedAt.is_null())
                    .into_tuple()
                    .all(db)
                    .await?;
                forget_in_warnings(db, &before).await?;
                erased.extend(before);
                $module::Entity::update_many()
                    .col_expr($module::Column::Forename, empty.clone())
                    .col_expr($module::Column::Surname, empty.clone())
                    $(.col_expr($module::Column::$identifier, null()))+
                    .col_expr($module::Column::WondeId, purged_source_id())
                    .col_expr($module::Column::PurgedAt, Expr::value(now))
                    .col_expr($module::Column::UpdatedAt, Expr::value(now))
                    .filter($module::Column::Id.is_in(chunk.clone()))
                    .filter($module::Column::Status.eq(AccountStatus::Deactivated))
                    .filter($module::Column::PurgedAt.is_null())
                    .exec(db)
                    .await?
                    .rows_affected
            }};
        }
        match kind {
            PersonKind::Student => {
                purged.students += scrub!(student, Email, Upn, Upi, MisId);
                purged.links += delete_in(db, guardian_link::Column::StudentId, chunk.clone()).await?;
                purged.memberships += delete_in(db, class_student::Column::StudentId, chunk.clone()).await?;
                purged.memberships += delete_in(db, form_student::Column::StudentId, chunk.clone()).await?;
                purged.memberships += delete_in(db, year_student::Column::StudentId, chunk).await?;
            }
            PersonKind::Staff => {
                purged.staff += scrub!(staff, Email, Title, Upi, MisId);
                purged.memberships += delete_in(db, class_teacher::Column::StaffId, chunk.clone()).await?;
                purged.memberships += delete_in(db, form_tutor::Column::StaffId, chunk).await?;
            }
            PersonKind::Guardian => {
                purged.guardians += scrub!(guardian, Email, EmailKey, Title, Upi, MisId);
                purged.links += delete_in(db, guardian_link::Column::GuardianId, chunk).await?;
            }
        }
    }
    Ok(purged)
}

/// What an erased source id becomes where text named it.
pub const ERASED_RECORD: &str = "(an erased record)";

/// Takes the source ids `erased` (by school) out of their schools' runs'
/// warnings, which name records by them (a record sent twice, one that
/// could not be read). One statement per id: a purge erases few at once
/// that any warning names, and the filter keeps the rest untouched.
async fn forget_in_warnings<C: ConnectionTrait>(db: &C, erased: &[(i32, String)]) -> Result<(), DbErr> {
    use sea_orm::sea_query::{Alias, Func};
    for (school, source_id) in erased {
        let replaced = Func::cust(Alias::new("REPLACE")).args([
            Expr::col(sync_run::Column::Warnings),
            Expr::value(source_id.clone()),
            Expr::value(ERASED_RECORD),
        ]);
        sync_run::Entity::update_many()
            .col_expr(sync_run::Column::Warnings, replaced.into())
            .filter(sync_run::Column::SchoolId.eq(*school))
            .filter(sync_run::Column::Warnings.contains(source_id.as_str()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Deletes the rows whose `column` is one of `ids`; answers how many.
async fn delete_in<C>(db: &impl ConnectionTrait, column: C, ids: Vec<i32>) -> Result<u64, DbErr>
where
    C: ColumnTrait,
    C::EntityName: EntityTrait,
{
    Ok(<C::EntityName as EntityTrait>::delete_many().filter(column.is_in(ids)).exec(db).await?.rows_affected)
}

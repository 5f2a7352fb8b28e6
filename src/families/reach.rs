//! The families of a few people, read from those people outwards rather
//! than from the whole trust (issue 15: the whole trust was about 14 MB a
//! request for 20,000 pupils).
//!
//! From the seeds, rounds of a few statements follow what joins a family:
//! active guardian links (both ways); every holder of a linked guardian's
//! email key (in scope, with an active link), to judge whether the email
//! joins (no placeholder, names agree among all its holders) and, when it
//! does, to reach them; every record of a reached child's UPN, to judge
//! whether the UPN joins (its holders can be one child:
//! `super::ambiguous_upns`)
//! and, when it does, to reach them. A round
//! reads only what the last one reached, and reading stops when a round
//! reaches nobody new: the rounds are the family's diameter, not the
//! trust's size. What was reached then goes through the same union-find as
//! the whole trust ([`FamilyIndex::from_rows`]), with the emails that do
//! not join removed first, so each reached family is exactly the one the
//! whole trust's index holds.
//!
//! UPNs are matched as `UPPER(TRIM(upn))` in SQL against [`upn_key`]s,
//! which are valid UPNs only (13 ASCII letters and digits), so the SQL
//! finds exactly the rows whose own key is one of them.

use entity::{guardian, guardian_link, student};
use sea_orm::sea_query::{Expr, ExprTrait, Func, SelectStatement, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryFilter, QuerySelect,
    QueryTrait, Select,
};
use std::collections::{BTreeSet, HashMap};

use super::{
    FamilyIndex, GUARDIAN_ROW_COLUMNS, GuardianRow, IdentityRow, STUDENT_ROW_COLUMNS, ambiguous_upns,
    email_key, is_placeholder_email, names_agree, upn_key,
};
use crate::auth::Viewer;
use crate::error::AppError;

/// Ids or keys per `IN` list: well below SQLite's bound-parameter limit.
const PER_QUERY: usize = 500;

/// What the rounds have read so far.
#[derive(Default)]
struct Reached {
    /// Active links, (student, guardian).
    links: BTreeSet<(i32, i32)>,
    guardians: HashMap<i32, GuardianRow>,
    students: HashMap<i32, IdentityRow>,
    /// Email keys whose holders were read, and those that join.
    emails: BTreeSet<String>,
    joining: BTreeSet<String>,
    /// UPN keys whose records were read.
    upns: BTreeSet<String>,
    /// People whose links were read (or are to be, this round).
    followed_guardians: BTreeSet<i32>,
    followed_students: BTreeSet<i32>,
}

/// The families of these guardians and students in the viewer's scope (and
/// possibly a few more): `of_guardian`, `of_student` and `get` answer for
/// the seeds exactly as the whole trust's index would.
pub async fn reach(
    db: &DatabaseConnection,
    viewer: &Viewer,
    guardian_seeds: &[i32],
    student_seeds: &[i32],
) -> Result<FamilyIndex, AppError> {
    let mut r = Reached::default();
    let mut guardians: Vec<i32> = guardian_seeds.to_vec();
    let mut students: Vec<i32> = student_seeds.to_vec();
    guardians.sort_unstable();
    guardians.dedup();
    students.sort_unstable();
    students.dedup();
    r.followed_guardians.extend(guardians.iter().copied());
    r.followed_students.extend(students.iter().copied());
    read_guardians(db, viewer, &mut r, &guardians).await?;
    read_students(db, viewer, &mut r, &students).await?;
    while !guardians.is_empty() || !students.is_empty() {
        let (mut next_guardians, mut next_students) =
            follow_links(db, viewer, &mut r, &guardians, &students).await?;
        read_guardians(db, viewer, &mut r, &next_guardians).await?;
        read_students(db, viewer, &mut r, &next_students).await?;
        next_guardians.extend(join_by_email(db, viewer, &mut r).await?);
        next_students.extend(join_by_upn(db, viewer, &mut r).await?);
        next_guardians.retain(|id| r.followed_guardians.insert(*id));
        next_students.retain(|id| r.followed_students.insert(*id));
        (guardians, students) = (next_guardians, next_students);
    }
    let linked: Vec<GuardianRow> = r
        .guardians
        .into_values()
        .map(|(id, school, email, forename, surname)| {
            let joins = email.as_deref().and_then(email_key).filter(|key| r.joining.contains(key));
            (id, school, joins, forename, surname)
        })
        .collect();
    let students: Vec<IdentityRow> = r.students.into_values().collect();
    let links: Vec<(i32, i32)> = r.links.into_iter().collect();
    Ok(FamilyIndex::from_rows(&links, &linked, &students))
}

/// Reads the active links of these people; answers the people at their
/// other ends not followed yet.
async fn follow_links(
    db: &DatabaseConnection,
    viewer: &Viewer,
    r: &mut Reached,
    guardians: &[i32],
    students: &[i32],
) -> Result<(Vec<i32>, Vec<i32>), AppError> {
    let (mut new_guardians, mut new_students) = (Vec::new(), Vec::new());
    let longest = guardians.len().max(students.len());
    for start in (0..longest).step_by(PER_QUERY) {
        let part = |ids: &[i32]| ids.iter().skip(start).take(PER_QUERY).copied().collect::<Vec<_>>();
        let rows: Vec<(i32, i32)> = viewer
            .guardian_links()
            .select_only()
            .columns([guardian_link::Column::StudentId, guardian_link::Column::GuardianId])
            .filter(guardian_link::Column::Active.eq(true))
            .filter(
                Condition::any()
                    .add(guardian_link::Column::GuardianId.is_in(part(guardians)))
                    .add(guardian_link::Column::StudentId.is_in(part(students))),
            )
            .into_tuple()
            .all(db)
            .await?;
        for (student, guardian) in rows {
            if r.links.insert((student, guardian)) {
                if !r.followed_guardians.contains(&guardian) {
                    new_guardians.push(guardian);
                }
                if !r.followed_students.contains(&student) {
                    new_students.push(student);
                }
            }
        }
    }
    new_guardians.sort_unstable();
    new_guardians.dedup();
    new_students.sort_unstable();
    new_students.dedup();
    Ok((new_guardians, new_students))
}

/// The ids of the guardians with an active link in the viewer's scope (a
/// subquery): the guardians a family can hold.
pub fn linked_guardians(viewer: &Viewer) -> SelectStatement {
    viewer
        .guardian_links()
        .select_only()
        .column(guardian_link::Column::GuardianId)
        .filter(guardian_link::Column::Active.eq(true))
        .into_query()
}

/// Declares `$name`, which reads the rows of `ids` that `r.$map` lacks,
/// from the viewer's scope of one table, `PER_QUERY` ids a query.
macro_rules! read_unread {
    ($name:ident: $row:ty, $map:ident from $scope:ident, $columns:expr, $id:expr) => {
        async fn $name(
            db: &DatabaseConnection,
            viewer: &Viewer,
            r: &mut Reached,
            ids: &[i32],
        ) -> Result<(), AppError> {
            let unread: Vec<i32> = ids.iter().copied().filter(|id| !r.$map.contains_key(id)).collect();
            for chunk in unread.chunks(PER_QUERY) {
                let rows: Vec<$row> = viewer
                    .$scope()
                    .select_only()
                    .columns($columns)
                    .filter($id.is_in(chunk.iter().copied()))
                    .into_tuple()
                    .all(db)
                    .await?;
                r.$map.extend(rows.into_iter().map(|row| (row.0, row)));
            }
            Ok(())
        }
    };
}

read_unread!(read_guardians: GuardianRow, guardians from guardians, GUARDIAN_ROW_COLUMNS, guardian::Column::Id);
read_unread!(read_students: IdentityRow, students from students, STUDENT_ROW_COLUMNS, student::Column::Id);

/// Reads every holder (in scope, with an active link) of the linked
/// guardians' email keys not read yet, judges each email as the whole
/// trust's index does, and answers the holders of joining emails.
async fn join_by_email(
    db: &DatabaseConnection,
    viewer: &Viewer,
    r: &mut Reached,
) -> Result<Vec<i32>, AppError> {
    let linked: BTreeSet<i32> = r.links.iter().map(|(_, g)| *g).collect();
    let keys: Vec<String> = r
        .guardians
        .values()
        .filter(|row| linked.contains(&row.0))
        .filter_map(|row| row.2.as_deref().and_then(email_key))
        .filter(|key| !is_placeholder_email(key) && !r.emails.contains(key))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut reached = Vec::new();
    for chunk in keys.chunks(PER_QUERY) {
        let with_links = linked_guardians(viewer);
        let holders: Vec<GuardianRow> = viewer
            .guardians()
            .select_only()
            .columns(GUARDIAN_ROW_COLUMNS)
            .filter(guardian::Column::EmailKey.is_in(chunk.iter().cloned()))
            .filter(guardian::Column::Id.in_subquery(with_links))
            .into_tuple()
            .all(db)
            .await?;
        let mut by_key: HashMap<String, Vec<&GuardianRow>> = HashMap::new();
        for row in &holders {
            if let Some(key) = row.2.as_deref().and_then(email_key) {
                by_key.entry(key).or_default().push(row);
            }
        }
        for (key, rows) in by_key {
            if names_agree(rows.iter().map(|row| (row.3.as_str(), row.4.as_str()))) {
                reached.extend(rows.iter().map(|row| row.0));
                r.joining.insert(key);
            }
        }
        r.emails.extend(chunk.iter().cloned());
        r.guardians.extend(holders.into_iter().map(|row| (row.0, row)));
    }
    Ok(reached)
}

/// `UPPER(TRIM(upn))`: [`upn_key`] in SQL.
fn upn_key_sql() -> SimpleExpr {
    Func::upper(Func::cust("TRIM").arg(Expr::col((student::Entity, student::Column::Upn)))).into()
}

/// UPNs with a character outside printable ASCII (a tab, a newline, a
/// no-break space, a letter beyond ASCII): the only ones whose SQL key can
/// differ from [`upn_key`], which trims every Unicode space and upper-cases
/// beyond ASCII. They are read every round (an MIS sends few), and the
/// check after the read keeps the true twins.
fn not_plain_ascii(backend: DbBackend) -> SimpleExpr {
    let upn = r#""student"."upn""#;
    match backend {
        DbBackend::Postgres => Expr::cust(format!("{upn} ~ '[^ -~]'")),
        _ => Expr::cust(format!("{upn} GLOB '*[^ -~]*'")),
    }
}

/// The records of `among` holding one of `keys` (as [`upn_key`] reads a
/// UPN), one statement: `keys` and `among`'s own values must fit in one
/// statement's bound parameters.
pub(crate) async fn holders_of_upns<C: ConnectionTrait>(
    db: &C,
    among: Select<student::Entity>,
    keys: &[String],
) -> Result<Vec<IdentityRow>, DbErr> {
    let rows: Vec<IdentityRow> = among
        .select_only()
        .columns(STUDENT_ROW_COLUMNS)
        .filter(
            Condition::any()
                .add(upn_key_sql().is_in(keys.iter().cloned()))
                .add(not_plain_ascii(db.get_database_backend())),
        )
        .into_tuple()
        .all(db)
        .await?;
    // SQL's TRIM and UPPER are narrower than Rust's: keep true twins.
    Ok(rows
        .into_iter()
        .filter(|row| row.2.as_deref().and_then(upn_key).is_some_and(|key| keys.contains(&key)))
        .collect())
}

/// Reads every record (in scope) of the reached children's UPNs not read
/// yet; answers them.
async fn join_by_upn(
    db: &DatabaseConnection,
    viewer: &Viewer,
    r: &mut Reached,
) -> Result<Vec<i32>, AppError> {
    let keys: Vec<String> = r
        .students
        .values()
        .filter_map(|row| row.2.as_deref().and_then(upn_key))
        .filter(|key| !r.upns.contains(key))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut reached = Vec::new();
    for chunk in keys.chunks(PER_QUERY) {
        let twins = holders_of_upns(db, viewer.students(), chunk).await?;
        r.upns.extend(chunk.iter().cloned());
        // Every holder of these keys in scope is here, so a key whose
        // holders cannot be one child is judged as the whole index judges
        // it: its holders are kept for that judgement but not followed.
        let ambiguous = ambiguous_upns(&twins);
        for row in twins {
            if row.2.as_deref().and_then(upn_key).is_some_and(|key| !ambiguous.contains(&key)) {
                reached.push(row.0);
            }
            r.students.insert(row.0, row);
        }
    }
    Ok(reached)
}

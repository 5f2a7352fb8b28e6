//! Roster pages (a class's, year group's or form group's students), paged
//! in SQL and batched across rosters.
//!
//! A roster of 1,000 pupils answered `students(first: 10)` by loading 1,000
//! membership rows and 1,000 students, then paging in memory (issue 15).
//! Here every roster page a level of the request asks for is one statement:
//! the members of all the requested groups, each numbered within its group
//! by `ROW_NUMBER() OVER (PARTITION BY group ORDER BY student id)`, cut at
//! `first + 1` per group, with each group's total (`COUNT(*) OVER`) beside
//! it. Both engines run window functions (SQLite since 3.25). Pages with
//! different arguments (`first`, `after`, `filter`) in one batch are one
//! statement per distinct set of arguments.

use async_graphql::dataloader::Loader;
use entity::student;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType};
use sea_orm::{DatabaseConnection, DbErr, FromQueryResult, IdenStatic, QueryTrait, Statement};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use super::filters::StudentCriteria;
use super::loaders::Membership;
use super::pagination::{Page, PageRequest};
use crate::auth::Viewer;

/// One roster page: the group, the page, the filter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RosterKey {
    pub group: i32,
    pub request: PageRequest,
    pub criteria: Arc<StudentCriteria>,
}

/// Loads roster pages of the membership table `M` (students by group).
pub struct RosterPages<M> {
    pub(super) db: DatabaseConnection,
    pub(super) viewer: Viewer,
    pub(super) marker: PhantomData<fn() -> M>,
}

/// A page's rows and its group's total, before they become a [`Page`].
#[derive(Clone, Default)]
pub struct RosterRows {
    rows: Vec<student::Model>,
    total: u64,
}

impl RosterRows {
    /// The page `request` asked for: at most `first` rows, and whether
    /// more follow.
    pub fn into_page(self, request: PageRequest) -> Page<student::Model> {
        let first = usize::try_from(request.first).unwrap_or(usize::MAX);
        let has_next = self.rows.len() > first;
        let mut rows = self.rows;
        rows.truncate(first);
        Page {
            items: rows.into_iter().map(|s| (i64::from(s.id), s)).collect(),
            has_next,
            has_previous: request.after.is_some(),
            total: self.total,
        }
    }
}

/// Column aliases the numbering adds to each student row.
const GROUP: &str = "onroll_group";
const ROW: &str = "onroll_row";
const TOTAL: &str = "onroll_total";

struct Numbered {
    student: student::Model,
    group: i32,
    total: i64,
}

impl FromQueryResult for Numbered {
    fn from_query_result(row: &sea_orm::QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            student: student::Model::from_query_result(row, pre)?,
            group: row.try_get(pre, GROUP)?,
            total: row.try_get(pre, TOTAL)?,
        })
    }
}

impl<M> Loader<RosterKey> for RosterPages<M>
where
    M: Membership,
    M::Model: Send + Sync,
{
    type Value = RosterRows;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[RosterKey]) -> Result<HashMap<RosterKey, RosterRows>, Arc<DbErr>> {
        let mut by_arguments: HashMap<(PageRequest, Arc<StudentCriteria>), Vec<i32>> = HashMap::new();
        for key in keys {
            by_arguments.entry((key.request, key.criteria.clone())).or_default().push(key.group);
        }
        let mut out = HashMap::new();
        for ((request, criteria), groups) in by_arguments {
            let (rows, totals) = self.pages(&groups, request, &criteria).await?;
            for group in groups {
                let page = RosterRows {
                    rows: rows.get(&group).cloned().unwrap_or_default(),
                    total: totals.get(&group).copied().unwrap_or(0),
                };
                out.insert(RosterKey { group, request, criteria: criteria.clone() }, page);
            }
        }
        Ok(out)
    }
}

impl<M: Membership> RosterPages<M> {
    /// One statement: up to `first + 1` members of each of `groups` after
    /// the cursor, in id order, and each group's number of members.
    async fn pages(
        &self,
        groups: &[i32],
        request: PageRequest,
        criteria: &StudentCriteria,
    ) -> Result<(HashMap<i32, Vec<student::Model>>, HashMap<i32, u64>), DbErr> {
        let membership = M::default();
        let group_column = format!("\"{}\".\"{}\"", membership.table_name(), M::group_column().as_str());
        let mut members = criteria.apply(self.viewer.students());
        QueryTrait::query(&mut members)
            .join(
                JoinType::InnerJoin,
                membership,
                Expr::col((membership, M::member_column())).equals((student::Entity, student::Column::Id)),
            )
            .and_where(Expr::col((membership, M::group_column())).is_in(groups.iter().copied()))
            .and_where(Expr::col((membership, M::active_column())).eq(true))
            .expr_as(Expr::cust(group_column.clone()), Alias::new(GROUP))
            .expr_as(Expr::cust(format!("COUNT(*) OVER (PARTITION BY {group_column})")), Alias::new(TOTAL));
        let backend = self.db.get_database_backend();
        let inner = members.build(backend);
        // Integers validated by `PageRequest`, so written into the text.
        // Members after the cursor are numbered first; those before it only
        // fill the cut, so every non-empty group returns at least one row and
        // with it its total, even when the cursor is past its last member.
        let order = request
            .after
            .map_or(String::new(), |after| format!("CASE WHEN members.id > {after} THEN 0 ELSE 1 END, "));
        let cut = request.first + 1;
        let sql = format!(
            "SELECT * FROM (SELECT members.*, ROW_NUMBER() OVER (PARTITION BY {GROUP} ORDER BY {order}members.id) \
             AS {ROW} FROM ({inner}) AS members) AS numbered WHERE {ROW} <= {cut} ORDER BY {GROUP}, id",
            inner = inner.sql,
        );
        let statement = Statement { sql, values: inner.values, db_backend: backend };
        let numbered = Numbered::find_by_statement(statement).all(&self.db).await?;
        let mut rows: HashMap<i32, Vec<student::Model>> = HashMap::new();
        let mut totals = HashMap::new();
        for Numbered { student, group, total } in numbered {
            totals.insert(group, u64::try_from(total).unwrap_or(0));
            let page = rows.entry(group).or_default();
            if request.after.is_none_or(|after| i64::from(student.id) > after) {
                page.push(student);
            }
        }
        Ok((rows, totals))
    }
}

//! `Trust.families`: a page of families read from only what it needs.
//!
//! Families are ordered by key, their smallest guardian id. Without
//! `totalCount` nothing reads the whole trust: a search reads the families
//! of the people it matches; otherwise the page walks the scope's linked
//! guardians in id order, a batch at a time, and keeps each family whose
//! key is the guardian at hand (the first time the walk meets it), until
//! the page and one more are found. `totalCount` counts every family, so
//! it alone builds the whole index (`families::FamilyIndex::build`).

use entity::{guardian, student};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::BTreeSet;
use std::sync::Arc;

use super::RequestContext;
use super::filters::{guardian_search_columns, words_condition};
use super::pagination::{Page, PageRequest, page_in_memory};
use crate::error::AppError;
use crate::families::{FamilyIndex, FamilyMembers, linked_guardians};

/// Linked guardians read per step of the walk.
const WALK_BATCH: u64 = 50;

/// What a families page asks for.
pub struct FamilyCriteria {
    /// Only families with records at more than one school.
    pub multi_school_only: bool,
    /// Search words; a family matches when a guardian or child matches all.
    pub words: Vec<String>,
    /// Whether `totalCount` is selected.
    pub counted: bool,
}

impl FamilyCriteria {
    fn admits(&self, family: &FamilyMembers) -> bool {
        !self.multi_school_only || family.school_ids.len() > 1
    }
}

/// The page of families `request` asks for, in key order.
pub async fn families_page(
    rc: &RequestContext,
    request: PageRequest,
    criteria: &FamilyCriteria,
) -> Result<Page<Arc<FamilyMembers>>, AppError> {
    let matching = members_matching(rc, &criteria.words).await?;
    if criteria.counted {
        let index = rc.families().await?;
        let keys = matching.map(|(guardians, students)| keys_of(&index, &guardians, &students));
        let families = index
            .iter()
            .filter(|f| criteria.admits(f))
            .filter(|f| keys.as_ref().is_none_or(|keys| keys.contains(&f.key)))
            .map(|f| (i64::from(f.key), f.clone()))
            .collect();
        return Ok(page_in_memory(families, request));
    }
    if let Some((guardians, students)) = matching {
        let index = rc.families_of(&guardians, &students).await?;
        let families = keys_of(&index, &guardians, &students)
            .into_iter()
            .filter_map(|key| index.get(key))
            .filter(|f| criteria.admits(f))
            .map(|f| (i64::from(f.key), f))
            .collect();
        return Ok(page_in_memory(families, request));
    }
    walk(rc, request, criteria).await
}

/// Keys of these people's families, in order.
fn keys_of(index: &FamilyIndex, guardians: &[i32], students: &[i32]) -> BTreeSet<i32> {
    guardians
        .iter()
        .filter_map(|id| index.of_guardian(*id))
        .chain(students.iter().filter_map(|id| index.of_student(*id)))
        .map(|f| f.key)
        .collect()
}

/// The page found by walking linked guardians in id order after the cursor.
async fn walk(
    rc: &RequestContext,
    request: PageRequest,
    criteria: &FamilyCriteria,
) -> Result<Page<Arc<FamilyMembers>>, AppError> {
    let first = usize::try_from(request.first).unwrap_or(usize::MAX);
    let batch = WALK_BATCH.max(request.first.saturating_add(1));
    let mut found: Vec<(i64, Arc<FamilyMembers>)> = Vec::new();
    let mut after = request.after.unwrap_or(i64::MIN);
    loop {
        let linked = linked_guardians(&rc.viewer);
        let candidates: Vec<i32> = rc
            .viewer
            .guardians()
            .select_only()
            .column(guardian::Column::Id)
            .filter(guardian::Column::Id.gt(after))
            .filter(guardian::Column::Id.in_subquery(linked))
            .order_by_asc(guardian::Column::Id)
            .limit(batch)
            .into_tuple()
            .all(&rc.db)
            .await?;
        let index = rc.families_of(&candidates, &[]).await?;
        // A family's key is its smallest guardian: met here first.
        let starting = candidates.iter().filter_map(|id| index.get(*id)).filter(|f| criteria.admits(f));
        for family in starting {
            found.push((i64::from(family.key), family));
            if found.len() > first {
                break;
            }
        }
        match candidates.last() {
            Some(last) if found.len() <= first && candidates.len() as u64 == batch => {
                after = i64::from(*last)
            }
            _ => break,
        }
    }
    let has_next = found.len() > first;
    found.truncate(first);
    Ok(Page { items: found, has_next, has_previous: request.after.is_some(), total: 0 })
}

/// The guardians and students whose name or email (emails only for viewers
/// who see them) matches every word; `None` when there is no search.
async fn members_matching(
    rc: &RequestContext,
    words: &[String],
) -> Result<Option<(Vec<i32>, Vec<i32>)>, AppError> {
    if words.is_empty() {
        return Ok(None);
    }
    let guardians: Vec<i32> = rc
        .viewer
        .guardians()
        .select_only()
        .column(guardian::Column::Id)
        .filter(words_condition(words, guardian_search_columns(rc.viewer.sees_contact_details())))
        .into_tuple()
        .all(&rc.db)
        .await?;
    let students: Vec<i32> = rc
        .viewer
        .students()
        .select_only()
        .column(student::Column::Id)
        .filter(words_condition(
            words,
            &[student::Column::Forename, student::Column::Surname, student::Column::Upn],
        ))
        .into_tuple()
        .all(&rc.db)
        .await?;
    Ok(Some((guardians, students)))
}

//! The end of the student and staff steps: the batch's weak evidence and
//! the guard's judgement, then the targets applied (status, reason and
//! events per account), updates and inserts saved, and the school's
//! accounts answered as they now stand.

use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseTransaction, DbErr, IntoActiveModel, QueryFilter};
use std::collections::HashMap;

use super::accounts::{AccountTable, Accounts, known};
use super::guard::{judge_accounts, kept_unread, spoke, weak_targets};
use super::matching::{How, count_match};
use super::{KnownAccounts, Work, deactivated_at};
use crate::sync::batch_write;
use crate::sync::ledger::{Evidence, Target, transition};
use crate::sync::source::Batch;
use entity::enums::AccountStatus;

/// Each row's target, with the evidence it rests on.
pub(super) type Targets = HashMap<usize, (Target, Evidence)>;

/// Keeps a record's matched account (row `i`, account `id`): its fields
/// as the record has them (`model`, counted by `how` it matched), and the
/// record's own `target` as explicit evidence.
pub(super) fn keep_match<E>(
    work: &mut Work,
    (targets, updates): (&mut Targets, &mut HashMap<usize, E::ActiveModel>),
    (i, id): (usize, i32),
    (model, how): (E::ActiveModel, How),
    target: Target,
) where
    E: AccountTable,
    E::ActiveModel: ActiveModelTrait,
{
    count_match(E::counts(&mut work.counts), how == How::Reidentified, model.is_changed());
    updates.insert(i, model);
    spoke(work, E::HELD, id, target);
    targets.insert(i, (target, Evidence::Explicit));
}

/// Weighs the step's `targets`: with the batch's weak evidence when it
/// `speaks` for the kind (a deletion or silence never overrides a present
/// record's own answer), under the guard; then [`settle`]s them.
pub(super) async fn finish<E>(
    txn: &DatabaseTransaction,
    work: &mut Work,
    (batch, speaks): (&Batch, bool),
    accounts: &Accounts<E::Model>,
    mut targets: Targets,
    (updates, inserts): (HashMap<usize, E::ActiveModel>, Vec<E::ActiveModel>),
) -> Result<KnownAccounts, DbErr>
where
    E: AccountTable,
    E::Model: Clone + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    let rows = &accounts.rows;
    if speaks {
        kept_unread(work, batch, (E::KIND, E::DELETED), || {
            (0..rows.len())
                .filter(|i| !targets.contains_key(i))
                .map(|i| E::state(&rows[i]))
                .filter(|(_, _, status, _, _)| *status == AccountStatus::Active)
                .map(|(id, ..)| id)
                .collect()
        });
        weak_targets(&mut targets, batch, E::DELETED, rows.len(), &accounts.by_id);
    }
    let active = work.active_before.get(&E::KIND).copied().unwrap_or(0);
    let targets = judge_accounts(&mut work.holds, E::HELD, (active, 0), targets, |i| {
        let (id, _, status, _, _) = E::state(&rows[i]);
        (id, status)
    });
    settle::<E>(txn, work, rows, targets, updates, inserts).await
}

/// Applies each row's target (status, reason, events), saves what changed,
/// inserts the new accounts, and answers the school's accounts as they now
/// stand.
async fn settle<E>(
    txn: &DatabaseTransaction,
    work: &mut Work,
    rows: &[E::Model],
    targets: HashMap<usize, Target>,
    mut updates: HashMap<usize, E::ActiveModel>,
    inserts: Vec<E::ActiveModel>,
) -> Result<KnownAccounts, DbErr>
where
    E: AccountTable,
    E::Model: Clone + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    let (school, now) = (work.scope.school_id, work.scope.now);
    for (i, target) in targets {
        let row = &rows[i];
        let (id, _, status, reason, lost_at) = E::state(row);
        let model = updates.entry(i).or_insert_with(|| row.clone().into_active_model());
        if let Some(change) = transition(status, reason, target) {
            let counted = model.is_changed();
            E::set_state(model, change.0, change.1, deactivated_at(status, lost_at, change.0, now));
            work.record(E::KIND, id, status, counted, change);
        }
    }
    let changed = updates.into_values().filter(|model| model.is_changed()).map(|mut model| {
        E::touch(&mut model, now);
        model
    });
    let mut written = batch_write::update_changed(txn, changed).await?;
    E::counts(&mut work.counts).created += i32::try_from(inserts.len()).unwrap_or(i32::MAX);
    written += batch_write::insert_all(txn, inserts).await?;
    work.written.note::<E>(written);
    let state = |r: &E::Model| {
        let (id, source_id, status, _, _) = E::state(r);
        (source_id.to_owned(), id, status)
    };
    if written == 0 {
        // Nothing changed: the accounts stand as read (purged rows aside,
        // which no record names and none of which is active).
        return Ok(known(rows.iter().collect(), |r| state(r)));
    }
    let rows = E::find().filter(E::school_column().eq(school)).all(txn).await?;
    Ok(known(rows, |r| state(r)))
}

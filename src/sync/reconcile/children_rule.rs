//! The children rule, the leaver cascade's last step: a guardian is active
//! exactly when the MIS still has them and they have an active link to an
//! active student at the school.

use entity::enums::{AccountStatus, DeactivationReason, PersonKind};
use entity::guardian;
use sea_orm::{ActiveValue::Set, DatabaseTransaction, DbErr};
use std::collections::HashSet;

use super::Work;
use super::{GuardianRecords, deactivated_at};
use crate::sync::batch_write;
use crate::sync::guardian_links;
use crate::sync::ledger::Target;
use crate::sync::ledger::transition;
use crate::sync::source::Batch;

/// The children rule: a guardian is active exactly when the MIS still has
/// them and they have an active link to an active student at this school.
pub(super) async fn guardian_status(
    txn: &DatabaseTransaction,
    work: &mut Work,
    batch: &Batch,
    guardians: GuardianRecords,
    removed_with_child: &HashSet<i32>,
) -> Result<(), DbErr> {
    let school = work.scope.school_id;
    let present: HashSet<&str> =
        batch.guardians.iter().filter(|g| !g.inactive_in_mis).map(|g| g.source_id.as_str()).collect();
    // A removed guardian whose links ended only with the removal goes for
    // the MIS's reason, not for having no child.
    let mut with_children = guardian_links::guardians_with_active_children(txn, school).await?;
    with_children.extend(removed_with_child.iter().copied());
    let mut updates = Vec::new();
    for row in guardians.rows {
        let removed = guardians.removed.get(&row.id).copied();
        let back = present.contains(row.wonde_id.as_str());
        let target = if !with_children.contains(&row.id) {
            // The cascade's rule first: no active child here, no account here.
            Target::Deactivated(DeactivationReason::NoActiveChildren)
        } else if let Some(why) = removed {
            Target::Deactivated(why)
        } else if row.status == AccountStatus::Deactivated
            && row.deactivation_reason != Some(DeactivationReason::NoActiveChildren)
            && !back
        {
            // Removed or suspended earlier, and not back in this batch.
            continue;
        } else {
            Target::Active
        };
        if let Some(change) = transition(row.status, row.deactivation_reason, target) {
            let mut model: guardian::ActiveModel = row.clone().into();
            model.status = Set(change.0);
            model.deactivation_reason = Set(change.1);
            model.deactivated_at =
                Set(deactivated_at(row.status, row.deactivated_at, change.0, work.scope.now));
            model.updated_at = Set(work.scope.now);
            updates.push(model);
            // A guardian's targets never say LEFT_SCHOOL, so never correct one.
            work.record(PersonKind::Guardian, row.id, row.status, false, change);
        }
    }
    work.written.note::<guardian::Entity>(batch_write::update_changed(txn, updates).await?);
    Ok(())
}

//! Safeguarding: a guardian the MIS removed keeps no link to a child. A
//! deletion (and an approved held change, which is applied as one) carries
//! no links, so the links it leaves unspoken for must end with the
//! guardian; otherwise a deactivated guardian stays attached to a pupil
//! the MIS no longer gives them. On both engines.

use entity::enums::{AccountStatus, DeactivationReason, SyncKind, SyncStatus};
use entity::{guardian, guardian_link, student};
use onroll::graphql::ids::NodeType;
use onroll::sync::ledger::Guard;
use onroll::sync::source::*;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::held::{APPROVE, Held, ids_of, pupil_with_own_parents};
use crate::held_review::guardian as contact;
use crate::on_both_engines;
use crate::reconcile::{apply, guardian_row, student_row};
use crate::support::fixture::{gid, school_db};
use crate::support::{Engine, TestDb};

on_both_engines!(
    an_approved_guardian_keeps_no_link_to_a_re_enrolled_pupil,
    a_contact_deleted_while_the_child_stays_leaves_with_the_link,
    a_contact_suspended_while_the_child_stays_leaves_with_the_link,
    a_contact_missing_from_a_full_sync_leaves_as_removed_from_the_mis
);

/// The current links of a guardian (by account id).
async fn current_links(
    db: &DatabaseConnection,
    guardian_id: i32,
) -> anyhow::Result<Vec<guardian_link::Model>> {
    Ok(guardian_link::Entity::find()
        .filter(guardian_link::Column::GuardianId.eq(guardian_id))
        .filter(guardian_link::Column::Active.eq(true))
        .all(db)
        .await?)
}

/// The model-based test's case, in plain steps over HTTP:
/// 1. the MIS answers empty lists (an outage); the FULL run holds every
///    deactivation, and nobody decides;
/// 2. a pupil whose parents have no other child here re-enrols (same UPI,
///    new Wonde id, a new family in the MIS); an INCREMENTAL run brings the
///    pupil back under the new id;
/// 3. an administrator approves the held changes of the old parents, whom
///    the MIS no longer has.
///
/// Then the parents are deactivated and keep no link to the pupil, whose
/// only current links are the MIS's.
async fn an_approved_guardian_keeps_no_link_to_a_re_enrolled_pupil(engine: Engine) -> anyhow::Result<()> {
    let h = Held::start(&engine, 10).await?;
    let truth = h.sim.truth(&h.wonde_id)?;
    let pupil = pupil_with_own_parents(&truth, 1)
        .ok_or_else(|| anyhow::anyhow!("seed 31 has a pupil whose parents have no other child here"))?;
    let parents: Vec<guardian::Model> = {
        let mut rows = Vec::new();
        for link in truth.links.iter().filter(|l| l.student_id == pupil.id) {
            rows.push(guardian_row(h.db(), &h.school, &link.contact_id).await?);
        }
        rows
    };
    let account = h.student(&pupil.id).await?;

    // 1. The outage: held, left pending.
    h.sim.set_outage(&h.wonde_id, true)?;
    let outage = h.sync(SyncKind::Full).await?;
    h.sim.set_outage(&h.wonde_id, false)?;
    assert_eq!(outage.status, SyncStatus::Completed, "{:?}", outage.error);
    assert!(outage.students_held > 0 && outage.guardians_held > 0, "{outage:?}");

    // 2. The re-enrolment.
    let back = h.sim.re_enrol(&h.wonde_id, &pupil.id)?;
    let run = h.sync(SyncKind::Incremental).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);
    let same = student::Entity::find_by_id(account.id).one(h.db()).await?;
    assert_eq!(
        same.as_ref().map(|s| (s.wonde_id.as_str(), s.status)),
        Some((back.id.as_str(), AccountStatus::Active)),
        "the same account, re-keyed by its UPI"
    );

    // 3. The old parents' held changes approved.
    let parent_ids: Vec<String> = parents.iter().map(|p| gid(NodeType::Guardian, p.id)).collect();
    let theirs: Vec<_> = h
        .held("PENDING")
        .await?
        .into_iter()
        .filter(|n| n["target"] == "GUARDIAN")
        .filter(|n| n["person"]["id"].as_str().is_some_and(|id| parent_ids.iter().any(|p| p == id)))
        .collect();
    assert_eq!(theirs.len(), parents.len(), "each old parent held, pending");
    let approved = h.decide(APPROVE, &ids_of(&theirs)).await?;
    assert_eq!(approved["decided"].as_array().map(Vec::len), Some(parents.len()), "{approved}");

    for parent in &parents {
        let now = guardian::Entity::find_by_id(parent.id).one(h.db()).await?;
        assert_eq!(now.map(|g| g.status), Some(AccountStatus::Deactivated), "{}", parent.wonde_id);
        let links = current_links(h.db(), parent.id).await?;
        assert!(links.is_empty(), "old parent {} still linked: {links:?}", parent.wonde_id);
    }
    let mis_now = h.sim.truth(&h.wonde_id)?;
    let mut want: Vec<String> =
        mis_now.links.iter().filter(|l| l.student_id == back.id).map(|l| l.contact_id.clone()).collect();
    let mut got = Vec::new();
    for link in guardian_link::Entity::find()
        .filter(guardian_link::Column::StudentId.eq(account.id))
        .filter(guardian_link::Column::Active.eq(true))
        .all(h.db())
        .await?
    {
        let g = guardian::Entity::find_by_id(link.guardian_id).one(h.db()).await?;
        got.extend(g.map(|g| g.wonde_id));
    }
    want.sort();
    got.sort();
    assert_eq!(got, want, "the pupil's current links are the MIS's");
    Ok(())
}

fn pupil(id: &str) -> MisStudent {
    MisStudent {
        source_id: id.to_owned(),
        upi: Some(format!("upi-{id}")),
        forename: id.to_owned(),
        surname: "Pupil".to_owned(),
        ..Default::default()
    }
}

/// A FULL batch of pupils S`i` for `i` in `pupils`, and for `i` in
/// `parents` a parent G`i` of S`i`'s own.
fn full_batch(pupils: std::ops::Range<usize>, parents: std::ops::Range<usize>) -> Batch {
    let mut batch = Batch::new(true, DataTypes::ALL);
    batch.students = pupils.map(|i| pupil(&format!("S{i}"))).collect();
    batch.guardians = parents.clone().map(|i| contact(&format!("G{i}"))).collect();
    batch.links = parents
        .map(|i| MisLink { student: format!("S{i}"), guardian: format!("G{i}"), ..Default::default() })
        .collect();
    batch
}

/// Four pupils S0..S3, each with a parent G0..G3 of their own.
async fn school_of_four(engine: &Engine) -> anyhow::Result<(TestDb, entity::school::Model)> {
    let (data, school) = school_db(engine, "Links Trust", "Links School").await?;
    apply(&data.db, &school, &full_batch(0..4, 0..4), Guard::default()).await?;
    Ok((data, school))
}

/// Wonde's deletions feed removes G0 while S0 stays on roll; the run's
/// batch holds no record of S0, so nothing speaks for the link. G0 is
/// deactivated as removed from the MIS, and the link ends with them.
async fn a_contact_deleted_while_the_child_stays_leaves_with_the_link(engine: Engine) -> anyhow::Result<()> {
    let (data, school) = school_of_four(&engine).await?;
    let db = &data.db;
    let g0 = guardian_row(db, &school, "G0").await?;
    assert_eq!(current_links(db, g0.id).await?.len(), 1);
    let mut batch = Batch::new(false, DataTypes::ALL);
    batch.deletions = vec![MisDeletion { kind: DeletedKind::Guardian, source_id: "G0".to_owned() }];
    let out = apply(db, &school, &batch, Guard::default()).await?;
    assert_eq!(out.counts.guardians.deactivated, 1, "{:?}", out.counts);
    let g0 = guardian_row(db, &school, "G0").await?;
    assert_eq!(
        (g0.status, g0.deactivation_reason),
        (AccountStatus::Deactivated, Some(DeactivationReason::RemovedFromMis))
    );
    assert_eq!(current_links(db, g0.id).await?, vec![], "a removed guardian keeps no link");
    assert_eq!(student_row(db, &school, "S0").await?.status, AccountStatus::Active);
    let g1 = guardian_row(db, &school, "G1").await?;
    assert_eq!(current_links(db, g1.id).await?.len(), 1, "other families untouched");
    Ok(())
}

/// The MIS marks G0 suspended while still listing the link to S0: the
/// account is deactivated as suspended (not for having no child), and the
/// link ends; nor does a later batch listing the link revive it while G0
/// stays suspended.
async fn a_contact_suspended_while_the_child_stays_leaves_with_the_link(
    engine: Engine,
) -> anyhow::Result<()> {
    let (data, school) = school_of_four(&engine).await?;
    let db = &data.db;
    let mut batch = Batch::new(false, DataTypes::ALL);
    batch.students = vec![pupil("S0")];
    batch.guardians = vec![MisGuardian { inactive_in_mis: true, ..contact("G0") }];
    batch.links = vec![MisLink { student: "S0".to_owned(), guardian: "G0".to_owned(), ..Default::default() }];
    apply(db, &school, &batch, Guard::default()).await?;
    let g0 = guardian_row(db, &school, "G0").await?;
    assert_eq!(
        (g0.status, g0.deactivation_reason),
        (AccountStatus::Deactivated, Some(DeactivationReason::SuspendedOrArchived))
    );
    assert_eq!(current_links(db, g0.id).await?, vec![], "a suspended guardian keeps no link");
    apply(db, &school, &batch, Guard::default()).await?;
    assert_eq!(current_links(db, g0.id).await?, vec![], "nor gets it back while suspended");
    // Back in the MIS with the link: active again, linked again.
    batch.guardians = vec![contact("G0")];
    apply(db, &school, &batch, Guard::default()).await?;
    assert_eq!(guardian_row(db, &school, "G0").await?.status, AccountStatus::Active);
    assert_eq!(current_links(db, g0.id).await?.len(), 1);
    Ok(())
}

/// A full sync whose contacts omit G0 while S0 stays on roll (S0's record
/// no longer lists G0 either, as Wonde answers it): the MIS removed G0, so
/// REMOVED_FROM_MIS (product.md), not NO_ACTIVE_CHILDREN; the link ends.
/// G3, missing too but whose only child S3 left in the same run, goes for
/// having no child.
async fn a_contact_missing_from_a_full_sync_leaves_as_removed_from_the_mis(
    engine: Engine,
) -> anyhow::Result<()> {
    let (data, school) = school_of_four(&engine).await?;
    let db = &data.db;
    let g0 = guardian_row(db, &school, "G0").await?;
    let batch = full_batch(0..3, 1..3);
    let out = apply(db, &school, &batch, Guard { share: 0.9, ..Guard::default() }).await?;
    assert_eq!(out.counts.guardians.deactivated, 2, "{:?}", out.counts);
    assert_eq!(student_row(db, &school, "S0").await?.status, AccountStatus::Active);
    let after = guardian_row(db, &school, "G0").await?;
    assert_eq!(after.id, g0.id, "the same account");
    assert_eq!(
        (after.status, after.deactivation_reason),
        (AccountStatus::Deactivated, Some(DeactivationReason::RemovedFromMis))
    );
    assert_eq!(current_links(db, g0.id).await?, vec![], "a removed guardian keeps no link");
    let g3 = guardian_row(db, &school, "G3").await?;
    assert_eq!(
        (g3.status, g3.deactivation_reason),
        (AccountStatus::Deactivated, Some(DeactivationReason::NoActiveChildren))
    );
    let g1 = guardian_row(db, &school, "G1").await?;
    assert_eq!((g1.status, current_links(db, g1.id).await?.len()), (AccountStatus::Active, 1));
    Ok(())
}

//! Data-quality findings: what a school office should fix in its MIS, as
//! data an admin can list (`dataQuality(schoolId)`), each with the records
//! involved.
//!
//! Every run of a school, Wonde or CSV, calls [`refresh`] inside its own
//! transaction, after the reconciliation: the school's findings are
//! recomputed from the stored directory (active accounts only: a
//! deactivated account is history, not something to fix) plus what the
//! run itself observed (records dropped as duplicates in the fetch,
//! ambiguous re-identifications), and the stored rows are brought to
//! match. So does every other write that deactivates accounts (an
//! approval of held changes, a disconnection that deactivates the
//! school), so that no finding names a pupil who is gone. A finding that
//! is still there keeps its row, its `detected_at` and the run that first
//! found it; one that is gone is deleted.
//!
//! The kinds ([`DataQualityKind`]):
//! - an email on guardians whose names disagree (judged across the trust,
//!   as the family rule is; listed with every holder in the trust);
//! - a placeholder email (`noemail@`, `n/a`... see
//!   [`crate::families::is_placeholder_email`]);
//! - one email on two or more guardian records of one name at the school;
//! - a guardian email that is also a pupil's at the school;
//! - a pupil without a UPN (one finding per pupil);
//! - a pupil whose UPN is not a valid UPN (`crate::upn`; one finding per
//!   pupil);
//! - one valid UPN on two or more active pupils of the school (one finding
//!   per UPN);
//! - a record that matched several accounts when re-identified: kept
//!   while two or more of those accounts are still active, since later
//!   runs no longer see the ambiguity that the first one resolved by
//!   creating a new account;
//! - a record sent twice in one fetch (until the next run);
//! - records of a Wonde listing that could not be read (until a run reads
//!   that listing whole), with the active accounts that stay only because
//!   of them: nobody missing from such a listing is taken for gone, so a
//!   record nobody fixes would otherwise keep leavers inside unseen.

mod detect;
mod unreadable;

use chrono::Utc;
use entity::enums::{AccountStatus, DataQualityKind, PersonKind};
use entity::{data_quality_finding, guardian, school, staff, student};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect,
    Statement,
};
use serde::{Deserialize, Serialize};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

pub use detect::{Directory, StudentRow};

use crate::families::{
    GUARDIAN_ROW_COLUMNS, GuardianRow, IdentityRow, STUDENT_ROW_COLUMNS, holders_of_upns, upn_key,
};
use crate::sync::batch_write::MAX_PARAMS;
use crate::sync::reconcile::{Ambiguity, KeptUnread};
use crate::sync::source::{DroppedDuplicate, UnreadableRecord};

/// The records a finding involves: stored accounts by kind (ids, sorted),
/// and the source's ids of records that were never stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Records {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub students: Vec<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub staff: Vec<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardians: Vec<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_ids: Vec<String>,
    /// The Wonde listing a fetch-observed finding is about (UNREADABLE_RECORD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing: Option<String>,
}

impl Records {
    /// What makes a finding of `kind` the same finding from run to run.
    /// An unreadable listing is one finding while it lasts, whichever
    /// records and kept accounts it names today (they change run by run;
    /// its `detectedAt` says how long it has been broken). Every other
    /// kind is its records.
    fn identity(&self, kind: DataQualityKind) -> Result<String, DbErr> {
        match (&self.listing, kind) {
            (Some(listing), DataQualityKind::UnreadableRecord) => Ok(format!("listing:{listing}")),
            _ => self.to_json(),
        }
    }

    /// The stored form: JSON, the same for the same records.
    pub fn to_json(&self) -> Result<String, DbErr> {
        serde_json::to_string(self).map_err(|err| DbErr::Custom(format!("finding records: {err}")))
    }

    /// Reads a stored `records` column; unreadable text reads as no records.
    pub fn from_json(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_default()
    }
}

/// A finding as computed, before it is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub kind: DataQualityKind,
    pub records: Records,
    /// One sentence for the school office: counts and source ids, no names
    /// or emails (the records show those to whoever may see them).
    pub detail: String,
}

/// Why findings are refreshed, and what the caller saw besides the
/// stored directory.
#[derive(Clone, Copy, Debug)]
pub enum Occasion<'a> {
    /// A run: recorded on findings first found now, with what its fetch
    /// observed (records dropped as duplicates, records that could not be
    /// read) and what its reconciliation did with it (ambiguous
    /// re-identifications, accounts kept for want of a whole listing).
    Run { run_id: i32, fetched: Fetched<'a> },
    /// An approval of held changes: nothing was fetched, so what the last
    /// run saw of its fetch (duplicates) stands until the next run.
    Approval,
    /// A disconnection that deactivated the school: no run follows, so
    /// what the last fetch showed goes with it.
    Disconnection,
    /// An erasure or the retention purge emptied records: a finding must
    /// not keep naming a purged record, nor a conflict that is gone
    /// (seen in a trial). Nothing was fetched, as on an approval: what the
    /// last fetch showed stands, but no finding keeps a source id the purge
    /// erased (`erased`: schools and the records' source ids before the
    /// purge): an erased person's id does not outlive them in a finding.
    Purge { erased: &'a [(i32, String)] },
}

/// What a run saw of its fetch and made of it, beyond the stored directory.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fetched<'a> {
    pub duplicates: &'a [DroppedDuplicate],
    pub ambiguities: &'a [Ambiguity],
    pub unreadable: &'a [UnreadableRecord],
    pub kept_unread: &'a [KeptUnread],
    /// The fetch spoke for the whole school (FULL, a whole CSV): only then
    /// is absence judged, and an unreadable listing's finding settled.
    pub complete: bool,
}

/// Findings that only a fetch observes: a later approval or purge, which
/// fetches nothing, keeps them as the last run left them.
fn observed_in_fetch(kind: DataQualityKind) -> bool {
    matches!(kind, DataQualityKind::DuplicateInFetch | DataQualityKind::UnreadableRecord)
}

/// [`refresh`] for every school of the trust: a purged record can end a
/// finding of another school (a UPN its record shared with the one
/// purged), seen in a trial.
pub async fn refresh_trust<C: ConnectionTrait>(
    txn: &C,
    trust_id: i32,
    occasion: Occasion<'_>,
) -> Result<(), DbErr> {
    let schools: Vec<i32> = school::Entity::find()
        .select_only()
        .column(school::Column::Id)
        .filter(school::Column::TrustId.eq(trust_id))
        .into_tuple()
        .all(txn)
        .await?;
    for school in schools {
        refresh(txn, school, occasion).await?;
    }
    Ok(())
}

/// Recomputes the school's findings and replaces its stored ones, inside
/// the caller's transaction `txn`. Returns how many findings the school
/// has.
pub async fn refresh<C: ConnectionTrait>(
    txn: &C,
    school_id: i32,
    occasion: Occasion<'_>,
) -> Result<usize, DbErr> {
    lock_findings(txn, school_id).await?;
    let (run_id, fetched) = match occasion {
        Occasion::Run { run_id, fetched } => (Some(run_id), fetched),
        Occasion::Approval | Occasion::Disconnection | Occasion::Purge { .. } => (None, Fetched::default()),
    };
    let directory = read_directory(txn, school_id).await?;
    let mut findings = detect::findings(&directory, fetched.duplicates, fetched.ambiguities);
    let unread_accounts = accounts_of_unreadable(txn, school_id, fetched.unreadable).await?;
    let unread = unreadable::unreadable(fetched.unreadable, fetched.kept_unread, &unread_accounts);
    let existing = data_quality_finding::Entity::find()
        .filter(data_quality_finding::Column::SchoolId.eq(school_id))
        .all(txn)
        .await?;
    findings.extend(ambiguities_still_open(txn, &existing, &findings).await?);
    let as_stored = |row: &data_quality_finding::Model| Finding {
        kind: row.kind,
        records: Records::from_json(&row.records),
        detail: row.detail.clone(),
    };
    match occasion {
        Occasion::Approval => {
            findings.extend(existing.iter().filter(|row| observed_in_fetch(row.kind)).map(as_stored));
        }
        Occasion::Purge { erased } => {
            findings.extend(existing.iter().filter(|row| observed_in_fetch(row.kind)).map(as_stored));
            let here: Vec<&str> =
                erased.iter().filter(|(s, _)| *s == school_id).map(|(_, id)| id.as_str()).collect();
            forget(&mut findings, &here);
        }
        // Absence is judged only by a complete run, so only one can say an
        // unreadable listing's kept accounts are settled: an incremental
        // run (which asks only for changed records, so seldom meets the
        // broken one) keeps what the last complete run found, as it was,
        // and adds listings it finds broken for the first time. A trial
        // saw the next INCREMENTAL run delete the finding for up to a week.
        Occasion::Run { .. } if !fetched.complete => {
            let kept: Vec<Finding> = existing
                .iter()
                .filter(|row| row.kind == DataQualityKind::UnreadableRecord)
                .map(as_stored)
                .collect();
            let listed: HashSet<Option<String>> = kept.iter().map(|f| f.records.listing.clone()).collect();
            findings.extend(unread.into_iter().filter(|f| !listed.contains(&f.records.listing)));
            findings.extend(kept);
        }
        Occasion::Run { .. } => findings.extend(unread),
        Occasion::Disconnection => {}
    }

    let mut stored: HashMap<(DataQualityKind, String), data_quality_finding::Model> = HashMap::new();
    let mut stale = Vec::new();
    for row in existing {
        // Rows written by an older version compare by their parsed records.
        let key = (row.kind, Records::from_json(&row.records).identity(row.kind)?);
        match stored.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(row);
            }
            Entry::Occupied(_) => stale.push(row.id),
        }
    }
    let now = Utc::now();
    let mut fresh = Vec::new();
    let mut changed = Vec::new();
    let mut seen = HashSet::new();
    for finding in &findings {
        let key = (finding.kind, finding.records.identity(finding.kind)?);
        if !seen.insert(key.clone()) {
            continue;
        }
        let records = finding.records.to_json()?;
        match stored.remove(&key) {
            Some(row)
                if row.detail == finding.detail && Records::from_json(&row.records) == finding.records => {}
            Some(row) => {
                let mut row: data_quality_finding::ActiveModel = row.into();
                row.detail = Set(finding.detail.clone());
                row.records = Set(records);
                changed.push(row);
            }
            None => fresh.push(data_quality_finding::ActiveModel {
                school_id: Set(school_id),
                kind: Set(finding.kind),
                sync_run_id: Set(run_id),
                detected_at: Set(now),
                records: Set(records),
                detail: Set(finding.detail.clone()),
                ..Default::default()
            }),
        }
    }
    stale.extend(stored.into_values().map(|row| row.id));
    // A school can lose tens of thousands of findings in one run (UPNs
    // added to every pupil of a large CSV school): more ids than one
    // statement may bind, and a run refused here would be refused again.
    for chunk in stale.chunks(MAX_PARAMS) {
        data_quality_finding::Entity::delete_many()
            .filter(data_quality_finding::Column::Id.is_in(chunk.iter().copied()))
            .exec(txn)
            .await?;
    }
    crate::sync::batch_write::update_changed(txn, changed).await?;
    crate::sync::batch_write::insert_all(txn, fresh).await?;
    Ok(seen.len())
}

/// Takes the erased source ids `erased` out of `findings`: out of their
/// source ids and their words; each finding stays for what else it names
/// (an unreadable listing's other records, the accounts it keeps). A
/// trial saw an erased guardian's Wonde id kept by an ambiguity finding,
/// and an erasure drop a listing's finding with another's broken record.
fn forget(findings: &mut [Finding], erased: &[&str]) {
    for finding in findings {
        let (gone, kept): (Vec<String>, Vec<String>) = std::mem::take(&mut finding.records.source_ids)
            .into_iter()
            .partition(|id| erased.contains(&id.as_str()));
        finding.records.source_ids = kept;
        // Only the ids the finding held: a short CSV id ("17") may be
        // other words of the sentence.
        for id in gone {
            finding.detail = finding.detail.replace(&id, crate::retention::purge::ERASED_RECORD);
        }
    }
}

/// The active accounts of the school that records which could not be
/// read name by Wonde id, of the kinds their listing holds: the office
/// finds them in the finding (an account already gone needs nothing). No
/// statement when nothing was unreadable (every ordinary run).
async fn accounts_of_unreadable<C: ConnectionTrait>(
    txn: &C,
    school_id: i32,
    unreadable: &[UnreadableRecord],
) -> Result<HashMap<(PersonKind, String), i32>, DbErr> {
    let mut wanted: HashMap<PersonKind, BTreeSet<String>> = HashMap::new();
    for record in unreadable {
        if let Some(id) = record.what.record.as_ref() {
            for kind in unreadable::holds(&record.endpoint) {
                wanted.entry(*kind).or_default().insert(id.clone());
            }
        }
    }
    let mut found = HashMap::new();
    for (kind, ids) in wanted {
        let ids: Vec<String> = ids.into_iter().collect();
        // One more value bound: the school.
        for chunk in ids.chunks(MAX_PARAMS - 1) {
            macro_rules! stored {
                ($module:ident) => {
                    $module::Entity::find()
                        .select_only()
                        .columns([$module::Column::Id, $module::Column::WondeId])
                        .filter($module::Column::SchoolId.eq(school_id))
                        .filter($module::Column::Status.eq(AccountStatus::Active))
                        .filter($module::Column::WondeId.is_in(chunk.iter().cloned()))
                        .into_tuple::<(i32, String)>()
                        .all(txn)
                        .await?
                };
            }
            let rows = match kind {
                PersonKind::Student => stored!(student),
                PersonKind::Staff => stored!(staff),
                PersonKind::Guardian => stored!(guardian),
            };
            found.extend(rows.into_iter().map(|(id, wonde_id)| ((kind, wonde_id), id)));
        }
    }
    Ok(found)
}

/// Serialises the refreshes of one school's findings on PostgreSQL until
/// the transaction ends: a run's can meet an approval's or a
/// disconnection's, and two would insert the same finding twice or
/// delete each other's rows in different orders. Taken after the
/// account writes and before the events are appended (`events::log`'s
/// rule: append last). SQLite has one writer already.
async fn lock_findings<C: ConnectionTrait>(txn: &C, school_id: i32) -> Result<(), DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let sql = "SELECT pg_advisory_xact_lock(hashtext('onroll-findings:' || current_schema()), $1)";
    txn.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, [school_id.into()])).await?;
    Ok(())
}

/// The trust's active guardians sharing an email with an active guardian
/// of the school, the school's active students, and the trust's students
/// holding a UPN that one of the school's holds, leavers included. The school's emails
/// and the trust's schools are read first and bound as values, not joined
/// as subqueries: without
/// statistics for a school's new rows (its first run, before `ANALYZE`)
/// PostgreSQL believed the school held one guardian and compared every
/// pair (664,017 rows filtered, 108 ms, then 35-40 ms a run).
async fn read_directory<C: ConnectionTrait>(txn: &C, school_id: i32) -> Result<Directory, DbErr> {
    let school = school::Entity::find_by_id(school_id)
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("school {school_id}")))?;
    let school_emails: Vec<Option<String>> = guardian::Entity::find()
        .select_only()
        .column(guardian::Column::EmailKey)
        .filter(guardian::Column::SchoolId.eq(school_id))
        .filter(guardian::Column::Status.eq(AccountStatus::Active))
        .filter(guardian::Column::EmailKey.is_not_null())
        .into_tuple()
        .all(txn)
        .await?;
    let school_emails: HashSet<String> = school_emails.into_iter().flatten().collect();
    let trust_schools: Vec<i32> = school::Entity::find()
        .select_only()
        .column(school::Column::Id)
        .filter(school::Column::TrustId.eq(school.trust_id))
        .into_tuple()
        .all(txn)
        .await?;
    // The emails as bound values, in statement-sized chunks (one for any
    // real school).
    let school_emails: Vec<String> = school_emails.into_iter().collect();
    let per_statement = crate::sync::batch_write::MAX_PARAMS.saturating_sub(trust_schools.len() + 1);
    let mut guardians: Vec<GuardianRow> = Vec::new();
    for emails in school_emails.chunks(per_statement.max(1)) {
        let rows: Vec<GuardianRow> = guardian::Entity::find()
            .select_only()
            .columns(GUARDIAN_ROW_COLUMNS)
            .filter(guardian::Column::Status.eq(AccountStatus::Active))
            .filter(guardian::Column::SchoolId.is_in(trust_schools.iter().copied()))
            .filter(guardian::Column::EmailKey.is_in(emails.iter().cloned()))
            .into_tuple()
            .all(txn)
            .await?;
        guardians.extend(rows);
    }
    let students: Vec<StudentRow> = student::Entity::find()
        .select_only()
        .columns([student::Column::Id, student::Column::Email, student::Column::Upn])
        .filter(student::Column::SchoolId.eq(school_id))
        .filter(student::Column::Status.eq(AccountStatus::Active))
        .into_tuple()
        .all(txn)
        .await?;
    let at_school: Vec<IdentityRow> = student::Entity::find()
        .select_only()
        .columns(STUDENT_ROW_COLUMNS)
        .filter(student::Column::SchoolId.eq(school_id))
        .filter(student::Column::Upn.is_not_null())
        .filter(student::Column::PurgedAt.is_null())
        .into_tuple()
        .all(txn)
        .await?;
    // The trust's other holders of the school's UPNs: a UPN the school's
    // child shares with another name elsewhere joins nobody either.
    let keys: Vec<String> = at_school
        .iter()
        .filter_map(|row| row.2.as_deref().and_then(upn_key))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut upn_holders: BTreeMap<i32, IdentityRow> = at_school.into_iter().map(|row| (row.0, row)).collect();
    // One statement for any real school, as for the emails above.
    for chunk in keys.chunks(per_statement.max(1)) {
        let in_trust = student::Entity::find()
            .filter(student::Column::SchoolId.is_in(trust_schools.iter().copied()))
            .filter(student::Column::PurgedAt.is_null());
        upn_holders.extend(holders_of_upns(txn, in_trust, chunk).await?.into_iter().map(|row| (row.0, row)));
    }
    let upn_holders = upn_holders.into_values().collect();
    Ok(Directory { school_id, guardians, students, upn_holders })
}

/// Stored ambiguity findings that this run did not report again, kept
/// while two or more of their accounts are still active: the office has
/// not told the accounts apart until one of them goes.
async fn ambiguities_still_open<C: ConnectionTrait>(
    txn: &C,
    existing: &[data_quality_finding::Model],
    findings: &[Finding],
) -> Result<Vec<Finding>, DbErr> {
    let current: HashSet<&Records> = findings
        .iter()
        .filter(|f| f.kind == DataQualityKind::AmbiguousReidentification)
        .map(|f| &f.records)
        .collect();
    let earlier: Vec<(Records, &str)> = existing
        .iter()
        .filter(|row| row.kind == DataQualityKind::AmbiguousReidentification)
        .map(|row| (Records::from_json(&row.records), row.detail.as_str()))
        .filter(|(records, _)| !current.contains(records))
        .collect();
    if earlier.is_empty() {
        return Ok(Vec::new());
    }
    let wanted = |pick: fn(&Records) -> &Vec<i32>| -> Vec<i32> {
        earlier.iter().flat_map(|(r, _)| pick(r).iter().copied()).collect()
    };
    let (students, staff, guardians) =
        (wanted(|r| &r.students), wanted(|r| &r.staff), wanted(|r| &r.guardians));
    let mut active: HashSet<(u8, i32)> = HashSet::new();
    // Each kind's ids that are still active, as (kind, id): 0 students,
    // 1 staff, 2 guardians.
    macro_rules! still_active {
        ($module:ident, $ids:expr, $kind:literal) => {
            // One more value bound: the status.
            for chunk in $ids.chunks(MAX_PARAMS - 1) {
                let ids: Vec<i32> = $module::Entity::find()
                    .select_only()
                    .column($module::Column::Id)
                    .filter($module::Column::Id.is_in(chunk.iter().copied()))
                    .filter($module::Column::Status.eq(AccountStatus::Active))
                    .into_tuple()
                    .all(txn)
                    .await?;
                active.extend(ids.into_iter().map(|id| ($kind, id)));
            }
        };
    }
    still_active!(student, students, 0);
    still_active!(staff, staff, 1);
    still_active!(guardian, guardians, 2);
    Ok(earlier
        .into_iter()
        .filter(|(records, _)| {
            let still = records.students.iter().filter(|id| active.contains(&(0, **id))).count()
                + records.staff.iter().filter(|id| active.contains(&(1, **id))).count()
                + records.guardians.iter().filter(|id| active.contains(&(2, **id))).count();
            still >= 2
        })
        .map(|(records, detail)| Finding {
            kind: DataQualityKind::AmbiguousReidentification,
            records,
            detail: detail.to_owned(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_erased_source_id_leaves_every_finding_and_the_rest_stays() {
        let finding = |kind, ids: &[&str], detail: &str| Finding {
            kind,
            records: Records {
                guardians: vec![3, 4],
                source_ids: ids.iter().map(|id| (*id).to_owned()).collect(),
                ..Records::default()
            },
            detail: detail.to_owned(),
        };
        let mut findings = vec![
            finding(
                DataQualityKind::AmbiguousReidentification,
                &["G9"],
                "A guardian record (source id G9) matched",
            ),
            finding(DataQualityKind::UnreadableRecord, &["A1", "B2"], "records A1: x; B2: y"),
            finding(DataQualityKind::DuplicateInFetch, &["C3"], "record C3 twice"),
        ];
        forget(&mut findings, &["G9", "A1"]);
        let ids: Vec<Vec<String>> = findings.iter().map(|f| f.records.source_ids.clone()).collect();
        assert_eq!(ids, vec![vec![], vec!["B2".to_owned()], vec!["C3".to_owned()]]);
        assert_eq!(findings[0].detail, "A guardian record (source id (an erased record)) matched");
        assert_eq!(findings[1].detail, "records (an erased record): x; B2: y");
        assert_eq!(findings[2].detail, "record C3 twice");
        assert_eq!(findings[0].records.guardians, vec![3, 4], "what else it names stays");
    }
}

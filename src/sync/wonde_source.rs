//! Wonde as a source: pages of its endpoints become one [`Batch`].
//!
//! Every page is fetched and parsed before anything is applied, so a fetch
//! that fails on its last page deactivates nobody. Memory holds the batch
//! (the records Onroll keeps, not Wonde's pages), which for a school is a
//! few thousand small records.
//!
//! A record sent twice in one endpoint's fetch (offset paging repeats a
//! row when rows move between two page requests) is taken once, the first
//! time, and the repeat is noted in [`Batch::duplicates`]: both copies come
//! from the same fetch, and without this the reconciliation would insert
//! the record twice and the whole run would fail on a unique key.

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use std::collections::{HashMap, HashSet};

use super::monitor::{Interrupted, RunMonitor};
use super::source::*;
use crate::wonde::{
    GroupType, ListQuery, Page, Pager, STUDENT_INCLUDES, SchoolAccess, WondeClass, WondeClient, WondeContact,
    WondeEmployee, WondeError, WondeGroup, WondeStudent,
};

/// What to fetch.
#[derive(Clone, Copy, Debug)]
pub struct FetchPlan {
    /// Everything (FULL), or what changed since `since`.
    pub complete: bool,
    pub since: Option<DateTime<Utc>>,
    pub types: DataTypes,
    pub today: NaiveDate,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("Wonde: {0}")]
    Wonde(#[from] WondeError),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    /// Reading what the school holds, to judge the answer.
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}

/// Fetches what `plan` asks for, reporting each page to `monitor`.
pub async fn fetch(
    client: &WondeClient,
    access: &SchoolAccess,
    plan: FetchPlan,
    monitor: &mut RunMonitor<'_>,
) -> Result<Batch, FetchError> {
    let mut batch = Batch::new(plan.complete, plan.types);
    let query = ListQuery { updated_after: plan.since.filter(|_| !plan.complete), includes: None };
    let types = plan.types;

    // Deletions first. A student who leaves gets a leaver record and a
    // deletion at the same moment, so a deletion seen here implies that the
    // later `students-leaver` fetch sees the leaver record too, and the
    // reconciliation, which prefers the leaver record, says LEFT_SCHOOL.
    // Fetched last, a leave between the two fetches would show only the
    // deletion and end as REMOVED_FROM_MIS.
    if !plan.complete {
        let mut pager = client.deletions(access, None, &query);
        let mut once = Once::new(listing::DELETIONS);
        while let Some(mut page) = monitor.while_reporting(pager.next_page()).await?? {
            monitor.read(listing::DELETIONS, page.records.len());
            let more = page.has_more;
            batch.cut_short.extend(cut_short_at(listing::DELETIONS, &page));
            batch.unreadable.extend(unreadable_of(listing::DELETIONS, &mut page));
            for deletion in page.records {
                // A record restored and deleted again has an entry per
                // deletion: the key is the record and when it was deleted,
                // so the live entry is not taken for a repeat of the
                // restored one.
                let key = match deletion.deleted_at {
                    Some(at) => format!("{}@{}", deletion.id, at.to_rfc3339()),
                    None => deletion.id.clone(),
                };
                if !once.first(&key, &mut batch.duplicates) {
                    continue;
                }
                // A deletion that was restored is no deletion.
                if deletion.restored_at.is_some() {
                    continue;
                }
                let kind = match deletion.record_type.as_deref().map(str::to_ascii_lowercase).as_deref() {
                    Some("student") => DeletedKind::Student,
                    Some("employee") => DeletedKind::Staff,
                    Some("contact") => DeletedKind::Guardian,
                    Some("class") => DeletedKind::Class,
                    Some("group") => DeletedKind::Group,
                    _ => continue,
                };
                batch.deletions.push(MisDeletion { kind, source_id: deletion.id });
            }
            if !more {
                break;
            }
        }
    }
    let mut fetch = Fetch {
        monitor,
        duplicates: &mut batch.duplicates,
        cut_short: &mut batch.cut_short,
        unreadable: &mut batch.unreadable,
    };
    if types.students || types.guardians {
        // An incremental run asks each changed student for its classes:
        // a class list arrives only when the class itself changed, so a
        // returner's classes would wait for the next FULL run.
        let students = if !plan.complete && types.students && types.classes {
            client.students(access, &with_classes(&query))
        } else {
            client.students(access, &query)
        };
        fetch
            .each_once(students, listing::STUDENTS, |student| {
                if types.guardians {
                    batch.links.extend(links_of(&student));
                    // Contacts absent, or sent as bare ids, say nothing
                    // of the pupil's links: those stored stay.
                    if !student.contacts.included || !student.contacts.ids.is_empty() {
                        batch.links_unstated.push(student.id.clone());
                    }
                }
                batch.students.push(mis_student(student, !plan.complete));
            })
            .await?;
        if !types.students {
            // Students were fetched only for their guardians' links.
            batch.students.clear();
        }
    }
    if types.students {
        let leavers = client.leavers(access, &query);
        fetch.each_once(leavers, listing::LEAVERS, |s| batch.leavers.push(mis_student(s, false))).await?;
    }
    if types.staff {
        let employees = client.employees(access, &query);
        fetch.each_once(employees, listing::STAFF, |e| batch.staff.push(mis_staff(e, plan.today))).await?;
    }
    if types.guardians {
        let contacts = client.contacts(access, &query);
        fetch.each_once(contacts, listing::GUARDIANS, |c| batch.guardians.push(mis_guardian(c))).await?;
    }
    if types.classes {
        let classes = client.classes(access, &query);
        fetch
            .each_once(classes, listing::CLASSES, |class| {
                note_unstated_members(
                    &mut batch.group_pupils_unstated,
                    &mut batch.group_staff_unstated,
                    &class.id,
                    [class.students.included, class.employees.included],
                );
                batch.classes.push(MisGroup {
                    source_id: class.id,
                    name: class.name.unwrap_or_default(),
                    code: class.code,
                    subject: class.subject.data().and_then(|s| s.name.clone()),
                    students: ids(&class.students.items, |s| &s.id, &class.students.ids),
                    staff: ids(&class.employees.items, |e| &e.id, &class.employees.ids),
                });
            })
            .await?;
    }
    for (enabled, group_type, phase) in [
        (types.year_groups, GroupType::Year, listing::YEAR_GROUPS),
        (types.form_groups, GroupType::Registration, listing::FORM_GROUPS),
    ] {
        if !enabled {
            continue;
        }
        let into = match group_type {
            GroupType::Year => &mut batch.year_groups,
            _ => &mut batch.form_groups,
        };
        let groups = client.groups(access, group_type, &query);
        fetch
            .each_once(groups, phase, |g| {
                if g.is_type(group_type) {
                    note_unstated_members(
                        &mut batch.group_pupils_unstated,
                        &mut batch.group_staff_unstated,
                        &g.id,
                        [g.students.included, g.employees.included],
                    );
                    into.push(mis_group(g));
                }
            })
            .await?;
    }
    fetch.monitor.flush().await?;
    Ok(batch)
}

/// `query` for students with their usual includes and their classes, as
/// an incremental run asks for them.
pub(crate) fn with_classes(query: &ListQuery) -> ListQuery {
    let mut includes: Vec<String> = STUDENT_INCLUDES.iter().map(|i| (*i).to_owned()).collect();
    includes.push("classes".to_owned());
    ListQuery { includes: Some(includes), ..query.clone() }
}

/// The ids one endpoint's fetch has taken so far.
struct Once {
    endpoint: &'static str,
    seen: HashSet<String>,
}

impl Once {
    fn new(endpoint: &'static str) -> Self {
        Self { endpoint, seen: HashSet::new() }
    }

    /// True the first time `id` is seen; after that, notes the repeat.
    fn first(&mut self, id: &str, duplicates: &mut Vec<DroppedDuplicate>) -> bool {
        if self.seen.insert(id.to_owned()) {
            return true;
        }
        duplicates.push(DroppedDuplicate { endpoint: self.endpoint.to_owned(), source_id: id.to_owned() });
        false
    }
}

/// A Wonde record taken once per fetch, by its Wonde id.
trait Keyed {
    fn key(&self) -> &str;
}

/// Every endpoint's record type is keyed by its `id` field.
macro_rules! keyed_by_id {
    ($($record:ty),* $(,)?) => {
        $(impl Keyed for $record {
            fn key(&self) -> &str {
                &self.id
            }
        })*
    };
}

keyed_by_id!(WondeStudent, WondeEmployee, WondeContact, WondeClass, WondeGroup);

/// What every endpoint's fetch reports to: the run's monitor for its pages,
/// and the batch's notes of dropped repeats, listings cut short and records
/// that could not be read. Held
/// once so that each endpoint names only what differs: its pager, its phase
/// and what it keeps.
struct Fetch<'a, 'm> {
    monitor: &'a mut RunMonitor<'m>,
    duplicates: &'a mut Vec<DroppedDuplicate>,
    cut_short: &'a mut Vec<CutShort>,
    unreadable: &'a mut Vec<UnreadableRecord>,
}

/// Whether the listing ended at `page` before its announced end, as the
/// batch notes it.
fn cut_short_at<T>(endpoint: &str, page: &Page<T>) -> Option<CutShort> {
    let why = if page.came_back_empty {
        CutShortBy::EmptyPromisedPage
    } else if page.more_without_link {
        CutShortBy::MoreWithoutLink
    } else {
        return None;
    };
    Some(CutShort { endpoint: endpoint.to_owned(), page: page.number, why })
}

/// The records of `page` that could not be read, moved into the batch's
/// notes.
fn unreadable_of<T>(endpoint: &str, page: &mut Page<T>) -> Vec<UnreadableRecord> {
    let number = page.number;
    std::mem::take(&mut page.unreadable)
        .into_iter()
        .map(|what| UnreadableRecord { endpoint: endpoint.to_owned(), page: number, what })
        .collect()
}

impl Fetch<'_, '_> {
    /// Reads every page of `pager`, reporting each to the monitor as
    /// `phase`, and hands `take` each record the first time its id is seen;
    /// a repeat is noted in the duplicates, a listing that ended before its
    /// announced end in the listings cut short, and a record that could not
    /// be read in the unreadable.
    async fn each_once<T: DeserializeOwned + Keyed>(
        &mut self,
        mut pager: Pager<T>,
        phase: &'static str,
        mut take: impl FnMut(T),
    ) -> Result<(), FetchError> {
        let mut once = Once::new(phase);
        while let Some(mut page) = self.monitor.while_reporting(pager.next_page()).await?? {
            self.monitor.read(phase, page.records.len());
            let more = page.has_more;
            self.cut_short.extend(cut_short_at(phase, &page));
            self.unreadable.extend(unreadable_of(phase, &mut page));
            for record in page.records {
                if once.first(record.key(), self.duplicates) {
                    take(record);
                }
            }
            // The last page is reported while the next list's first page
            // is fetched (or by the flush at the end), not on its own.
            if !more {
                break;
            }
        }
        Ok(())
    }
}

fn text(value: Option<String>) -> String {
    value.map(|v| v.trim().to_owned()).unwrap_or_default()
}

fn mis_student(student: WondeStudent, incremental: bool) -> MisStudent {
    // Only a group Wonde actually sent (included or as an id) is a statement.
    let groups_stated = incremental && !matches!(student.year, crate::wonde::Relation::Absent);
    MisStudent {
        upn: student.upn().map(str::to_owned),
        leaving_date: student.leaving_date(),
        year: student.year_id().map(str::to_owned),
        form: student.form_id().map(str::to_owned),
        groups_stated,
        classes: (incremental && student.classes.included)
            .then(|| ids(&student.classes.items, |c| &c.id, &student.classes.ids)),
        email: clean_email(student.contact_details.data().and_then(|d| d.email())),
        source_id: student.id,
        upi: student.upi,
        mis_id: student.mis_id,
        forename: text(student.forename),
        surname: text(student.surname),
        inactive_in_mis: false,
    }
}

fn links_of(student: &WondeStudent) -> Vec<MisLink> {
    student
        .contacts
        .items
        .iter()
        .map(|contact| {
            let pivot = contact.relationship.clone().unwrap_or_default();
            MisLink {
                student: student.id.clone(),
                guardian: contact.id.clone(),
                relationship_label: pivot.relationship,
                parental_responsibility: pivot.parental_responsibility,
                lives_with_student: pivot.lives_with_pupil,
                priority: pivot.priority.or(contact.priority).and_then(|p| i32::try_from(p).ok()),
            }
        })
        .collect()
}

fn mis_staff(employee: WondeEmployee, today: NaiveDate) -> MisStaff {
    MisStaff {
        current: employee.is_current_on(today),
        employment_end: employee.employment_details.data().and_then(|d| d.employment_end_date),
        email: clean_email(employee.email()),
        source_id: employee.id,
        upi: employee.upi,
        mis_id: employee.mis_id,
        title: employee.title,
        forename: text(employee.forename),
        surname: text(employee.surname),
        inactive_in_mis: false,
    }
}

fn mis_guardian(contact: WondeContact) -> MisGuardian {
    MisGuardian {
        email: clean_email(contact.email()),
        source_id: contact.id,
        upi: contact.upi,
        mis_id: contact.mis_id,
        title: contact.title,
        forename: text(contact.forename),
        surname: text(contact.surname),
        inactive_in_mis: false,
    }
}

fn mis_group(group: WondeGroup) -> MisGroup {
    MisGroup {
        students: ids(&group.students.items, |s| &s.id, &group.students.ids),
        staff: ids(&group.employees.items, |e| &e.id, &group.employees.ids),
        source_id: group.id,
        name: text(group.name),
        code: group.code,
        subject: None,
    }
}

/// Notes a group whose record did not include its pupils, or its staff
/// (`[students included, employees included]`): an absent list says
/// nothing of its members, and must not read as "none".
fn note_unstated_members(
    pupils: &mut HashSet<String>,
    staff: &mut HashSet<String>,
    group: &str,
    [pupils_included, staff_included]: [bool; 2],
) {
    if !pupils_included {
        pupils.insert(group.to_owned());
    }
    if !staff_included {
        staff.insert(group.to_owned());
    }
}

/// Ids of a relation list, whether included as records or as bare ids.
fn ids<T>(items: &[T], id: impl Fn(&T) -> &String, bare: &[String]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(|item| id(item).clone()).collect();
    out.extend(bare.iter().cloned());
    let mut seen = HashMap::new();
    out.retain(|id| seen.insert(id.clone(), ()).is_none());
    out
}

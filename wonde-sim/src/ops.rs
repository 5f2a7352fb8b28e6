//! Changes to a school's MIS, as a school office makes them. Each one dates
//! what it touches "now", so `updated_after` sees it, and writes the
//! deletions feed the way Wonde does (one entry per top-level record).

use std::collections::BTreeSet;

use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::generate::{self, NewStudent};
use crate::model::{Deletion, GroupKind, MisSnapshot, Student, Timestamp};
use crate::world::{SchoolState, World};

mod mis_migration;
mod rollover;

pub use mis_migration::MisMigration;
pub(crate) use mis_migration::migrate_mis;
pub use rollover::RolloverSummary;
pub(crate) use rollover::rollover;

/// Why a control request could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("no school {0}")]
    UnknownSchool(String),
    #[error("no {kind} {id} at this school")]
    UnknownRecord { kind: &'static str, id: String },
    #[error("{0}")]
    Invalid(String),
    /// The school is not in a state the change applies to (approving a
    /// school that is not pending, say).
    #[error("{0}")]
    Conflict(String),
}

/// A new starter. Everything is optional: by default the youngest year, the
/// smallest form, and a new family.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NewStarter {
    /// NC year code ("7", "R").
    #[serde(default)]
    pub year_code: Option<String>,
    /// A REGISTRATION group id of that year.
    #[serde(default)]
    pub form_id: Option<String>,
    /// An existing student whose guardians (and surname) the starter shares.
    #[serde(default)]
    pub sibling_of: Option<String>,
}

/// How a member of staff leaves.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StaffLeave {
    /// Remove the record (a deletion entry) instead of ending employment.
    #[serde(default)]
    pub delete: bool,
    /// Employment end date; when absent, employment ends now (today, and
    /// no longer current). A date given, today or later, is recorded
    /// ahead: the employee stays current (and in classes) through that day.
    #[serde(default)]
    pub end_date: Option<NaiveDate>,
}

/// Runs `f` with the school taken out of the world, so it can draw ids from
/// the world's generator while changing the school.
pub(crate) fn with_school<R>(
    world: &mut World,
    school_id: &str,
    f: impl FnOnce(&mut World, &mut SchoolState) -> Result<R, SimError>,
) -> Result<R, SimError> {
    let pos = world
        .schools
        .iter()
        .position(|s| s.mis.school.id == school_id)
        .ok_or_else(|| SimError::UnknownSchool(school_id.to_owned()))?;
    let mut schools = std::mem::take(&mut world.schools);
    let result = f(world, &mut schools[pos]);
    world.schools = schools;
    result
}

/// A change to one school's MIS: `f` gets the world (to draw ids from), the
/// MIS, and the time the change happens, to date what it touches.
pub(crate) fn change_mis<R>(
    world: &mut World,
    school_id: &str,
    f: impl FnOnce(&mut World, &mut MisSnapshot, Timestamp) -> Result<R, SimError>,
) -> Result<R, SimError> {
    with_school(world, school_id, |world, state| f(world, state.mis_mut(), Utc::now()))
}

/// A change to one student on roll: `f` gets the MIS, the student's place
/// in `students`, and the time the change happens.
fn change_student<R>(
    world: &mut World,
    school_id: &str,
    student_id: &str,
    f: impl FnOnce(&mut MisSnapshot, usize, Timestamp) -> Result<R, SimError>,
) -> Result<R, SimError> {
    change_mis(world, school_id, |_, mis, now| {
        let pos = student_pos(mis, student_id)?;
        f(mis, pos, now)
    })
}

/// Where the record with Wonde id `id` is in `records`; `kind` names it in
/// the error when there is none.
fn position_of<T>(
    records: &[T],
    kind: &'static str,
    id: &str,
    id_of: impl Fn(&T) -> &str,
) -> Result<usize, SimError> {
    records
        .iter()
        .position(|r| id_of(r) == id)
        .ok_or_else(|| SimError::UnknownRecord { kind, id: id.to_owned() })
}

fn student_pos(mis: &MisSnapshot, id: &str) -> Result<usize, SimError> {
    position_of(&mis.students, "student", id, |s| &s.id)
}

fn leaver_pos(mis: &MisSnapshot, id: &str) -> Result<usize, SimError> {
    position_of(&mis.leavers, "leaver", id, |s| &s.id)
}

fn touch_groups(mis: &mut MisSnapshot, ids: &[Option<String>], now: Timestamp) {
    for g in &mut mis.groups {
        if ids.iter().flatten().any(|id| *id == g.id) {
            g.updated_at = now;
        }
    }
}

fn record_deletion(mis: &mut MisSnapshot, kind: &str, id: &str, mis_id: &str, now: Timestamp) {
    mis.deletions.push(Deletion {
        kind: kind.to_owned(),
        id: id.to_owned(),
        mis_id: mis_id.to_owned(),
        deleted_at: now,
        restored_at: None,
    });
}

/// A student deleted from the MIS without a leaver record (entered in
/// error, or a MIS clean-up): only the deletions feed says so.
pub(crate) fn delete_student(
    world: &mut World,
    school_id: &str,
    student_id: &str,
) -> Result<Student, SimError> {
    change_student(world, school_id, student_id, |mis, pos, now| {
        let student = remove_from_roll(mis, pos, now.date_naive(), now);
        mis.leavers.retain(|s| s.id != student.id);
        Ok(student)
    })
}

/// Takes a student off roll: out of classes, groups and guardian links, into
/// the leavers list, with a deletion entry. Guardians left with no child at
/// the school are removed too (with their own deletion entries).
fn remove_from_roll(mis: &mut MisSnapshot, pos: usize, leaving: NaiveDate, now: Timestamp) -> Student {
    let mut student = mis.students.remove(pos);
    for class in &mut mis.classes {
        if let Some(k) = class.student_ids.iter().position(|s| *s == student.id) {
            class.student_ids.remove(k);
            class.updated_at = now;
        }
    }
    touch_groups(mis, &[student.year_group_id.clone(), student.form_group_id.clone()], now);
    let dropped: BTreeSet<String> =
        mis.links.iter().filter(|l| l.student_id == student.id).map(|l| l.contact_id.clone()).collect();
    mis.links.retain(|l| l.student_id != student.id);
    for contact_id in dropped {
        if mis.links.iter().any(|l| l.contact_id == contact_id) {
            continue;
        }
        if let Some(k) = mis.contacts.iter().position(|c| c.id == contact_id) {
            let c = mis.contacts.remove(k);
            record_deletion(mis, "contact", &c.id, &c.mis_id, now);
        }
    }
    student.leaving_date = Some(leaving);
    student.updated_at = now;
    record_deletion(mis, "student", &student.id, &student.mis_id, now);
    mis.leavers.push(student.clone());
    student
}

pub(crate) fn student_leaves(
    world: &mut World,
    school_id: &str,
    student_id: &str,
    leaving_date: Option<NaiveDate>,
) -> Result<Student, SimError> {
    change_student(world, school_id, student_id, |mis, pos, now| {
        Ok(remove_from_roll(mis, pos, leaving_date.unwrap_or_else(|| now.date_naive()), now))
    })
}

/// Puts a student (already in `mis.students`) into a year, a form, and one
/// set per subject taught in that year (the smallest), dating all of it now.
fn place(
    mis: &mut MisSnapshot,
    pos: usize,
    year_code: &str,
    form_id: Option<&str>,
    now: Timestamp,
) -> Result<(), SimError> {
    let year_group = mis
        .groups
        .iter()
        .find(|g| g.kind == GroupKind::Year && g.year_code == year_code)
        .map(|g| g.id.clone())
        .ok_or_else(|| SimError::Invalid(format!("no year {year_code} at this school")))?;
    let form = match form_id {
        Some(f) => mis
            .groups
            .iter()
            .find(|g| g.id == f && g.kind == GroupKind::Registration)
            .map(|g| g.id.clone())
            .ok_or_else(|| SimError::UnknownRecord { kind: "form", id: f.to_owned() })?,
        None => {
            let forms: Vec<String> = mis
                .groups
                .iter()
                .filter(|g| g.kind == GroupKind::Registration && g.year_code == year_code)
                .map(|g| g.id.clone())
                .collect();
            forms
                .into_iter()
                .min_by_key(|f| mis.students.iter().filter(|s| s.form_group_id.as_deref() == Some(f)).count())
                .ok_or_else(|| SimError::Invalid(format!("no form in year {year_code}")))?
        }
    };
    let student_id = mis.students[pos].id.clone();
    {
        let s = &mut mis.students[pos];
        s.year_group_id = Some(year_group.clone());
        s.form_group_id = Some(form.clone());
        s.updated_at = now;
    }
    touch_groups(mis, &[Some(year_group), Some(form)], now);
    let subjects: BTreeSet<String> =
        mis.classes.iter().filter(|c| c.year_code == year_code).map(|c| c.subject_id.clone()).collect();
    for subject in subjects {
        let smallest = mis
            .classes
            .iter_mut()
            .filter(|c| c.year_code == year_code && c.subject_id == subject)
            .min_by_key(|c| c.student_ids.len());
        if let Some(class) = smallest {
            class.student_ids.push(student_id.clone());
            class.updated_at = now;
        }
    }
    Ok(())
}

/// The NC year code of a student's year group.
fn year_code_of(mis: &MisSnapshot, s: &Student) -> Option<String> {
    let id = s.year_group_id.as_ref()?;
    mis.groups.iter().find(|g| g.id == *id).map(|g| g.year_code.clone())
}

fn youngest_year(mis: &MisSnapshot) -> String {
    generate::year_codes(&mis.school.phase_of_education).into_iter().next().unwrap_or_else(|| "7".to_owned())
}

pub(crate) fn new_starter(
    world: &mut World,
    school_id: &str,
    spec: &NewStarter,
) -> Result<Student, SimError> {
    change_mis(world, school_id, |world, mis, now| {
        let year = spec.year_code.clone().unwrap_or_else(|| youngest_year(mis));
        let sibling_links: Vec<_> = match &spec.sibling_of {
            Some(sib) => {
                student_pos(mis, sib)?;
                mis.links.iter().filter(|l| l.student_id == *sib).cloned().collect()
            }
            None => Vec::new(),
        };
        let surname = spec.sibling_of.as_ref().and_then(|sib| mis.student(sib)).map(|s| s.surname.clone());
        let mut student =
            generate::make_student(world, &mis.school, &NewStudent { year_code: &year, surname });
        student.created_at = now;
        student.updated_at = now;
        student.admission_date = now.date_naive();
        mis.students.push(student);
        let pos = mis.students.len() - 1;
        if let Err(e) = place(mis, pos, &year, spec.form_id.as_deref(), now) {
            mis.students.pop();
            return Err(e);
        }
        let id = mis.students[pos].id.clone();
        if sibling_links.is_empty() {
            generate::families::add_new_family(world, mis, pos);
            for c in &mut mis.contacts {
                if mis.links.iter().any(|l| l.student_id == id && l.contact_id == c.id) {
                    c.created_at = now;
                    c.updated_at = now;
                }
            }
        } else {
            for mut link in sibling_links {
                link.student_id.clone_from(&id);
                for c in &mut mis.contacts {
                    if c.id == link.contact_id {
                        c.updated_at = now;
                    }
                }
                mis.links.push(link);
            }
        }
        Ok(mis.students[pos].clone())
    })
}

pub(crate) fn move_class(
    world: &mut World,
    school_id: &str,
    student_id: &str,
    from_class: &str,
    to_class: &str,
) -> Result<(), SimError> {
    change_student(world, school_id, student_id, |mis, pos, now| {
        let to = position_of(&mis.classes, "class", to_class, |c| &c.id)?;
        let from = position_of(&mis.classes, "class", from_class, |c| &c.id)?;
        let k = mis.classes[from]
            .student_ids
            .iter()
            .position(|s| s == student_id)
            .ok_or_else(|| SimError::Invalid(format!("{student_id} is not in class {from_class}")))?;
        mis.classes[from].student_ids.remove(k);
        mis.classes[from].updated_at = now;
        if !mis.classes[to].student_ids.iter().any(|s| s == student_id) {
            mis.classes[to].student_ids.push(student_id.to_owned());
        }
        mis.classes[to].updated_at = now;
        mis.students[pos].updated_at = now;
        Ok(())
    })
}

pub(crate) fn change_form(
    world: &mut World,
    school_id: &str,
    student_id: &str,
    form_id: &str,
) -> Result<(), SimError> {
    change_student(world, school_id, student_id, |mis, pos, now| {
        if !mis.groups.iter().any(|g| g.id == form_id && g.kind == GroupKind::Registration) {
            return Err(SimError::UnknownRecord { kind: "form", id: form_id.to_owned() });
        }
        let old = mis.students[pos].form_group_id.replace(form_id.to_owned());
        mis.students[pos].updated_at = now;
        touch_groups(mis, &[old, Some(form_id.to_owned())], now);
        Ok(())
    })
}

/// The school office retypes how a contact is related to a student (the
/// pivot's `relationship`, as the MIS writes it: any text). Both records
/// are dated now, so `updated_after` sees the change.
pub(crate) fn relabel_contact(
    world: &mut World,
    school_id: &str,
    student_id: &str,
    contact_id: &str,
    relationship: &str,
) -> Result<(), SimError> {
    change_student(world, school_id, student_id, |mis, pos, now| {
        let link = mis
            .links
            .iter_mut()
            .find(|l| l.student_id == student_id && l.contact_id == contact_id)
            .ok_or_else(|| SimError::UnknownRecord { kind: "contact", id: contact_id.to_owned() })?;
        relationship.clone_into(&mut link.relationship);
        mis.students[pos].updated_at = now;
        for contact in mis.contacts.iter_mut().filter(|c| c.id == contact_id) {
            contact.updated_at = now;
        }
        Ok(())
    })
}

pub(crate) fn staff_leaves(
    world: &mut World,
    school_id: &str,
    employee_id: &str,
    how: &StaffLeave,
) -> Result<(), SimError> {
    change_mis(world, school_id, |_, mis, now| {
        let pos = position_of(&mis.employees, "employee", employee_id, |e| &e.id)?;
        // An end date ahead: the MIS records it and keeps the employee
        // current, teaching, until that day has passed.
        if !how.delete && how.end_date.is_some_and(|end| end >= now.date_naive()) {
            let e = &mut mis.employees[pos];
            e.employment_end_date = how.end_date;
            e.updated_at = now;
            return Ok(());
        }
        for class in &mut mis.classes {
            if class.teachers.iter().any(|t| t.employee_id == employee_id) {
                class.teachers.retain(|t| t.employee_id != employee_id);
                class.updated_at = now;
            }
        }
        for group in &mut mis.groups {
            if group.employee_ids.iter().any(|e| e == employee_id) {
                group.employee_ids.retain(|e| e != employee_id);
                group.updated_at = now;
            }
        }
        if how.delete {
            let e = mis.employees.remove(pos);
            record_deletion(mis, "employee", &e.id, &e.mis_id, now);
        } else {
            let e = &mut mis.employees[pos];
            e.current = false;
            e.employment_end_date = Some(how.end_date.unwrap_or_else(|| now.date_naive()));
            e.updated_at = now;
        }
        Ok(())
    })
}

/// A student comes back on roll under a new Wonde id with the same UPI (and
/// MIS id and UPN). A current student is taken off roll first.
pub(crate) fn re_enrol(world: &mut World, school_id: &str, student_id: &str) -> Result<Student, SimError> {
    change_mis(world, school_id, |world, mis, now| {
        if let Ok(pos) = student_pos(mis, student_id) {
            remove_from_roll(mis, pos, now.date_naive(), now);
        }
        let (old, year) = take_leaver(mis, student_id)?;
        let student = Student {
            id: world.fresh_id(),
            leaving_date: None,
            admission_date: now.date_naive(),
            restored_at: None,
            created_at: now,
            updated_at: now,
            year_group_id: None,
            form_group_id: None,
            ..old
        };
        back_on_roll(world, mis, student, &year, now)
    })
}

/// The same record comes back: Wonde sets `restored_at` on it and on its
/// deletion entry.
pub(crate) fn restore(world: &mut World, school_id: &str, student_id: &str) -> Result<Student, SimError> {
    change_mis(world, school_id, |world, mis, now| {
        let (mut student, year) = take_leaver(mis, student_id)?;
        student.leaving_date = None;
        student.restored_at = Some(now);
        student.updated_at = now;
        for d in &mut mis.deletions {
            if d.id == student.id && d.restored_at.is_none() {
                d.restored_at = Some(now);
            }
        }
        back_on_roll(world, mis, student, &year, now)
    })
}

/// Takes leaver `student_id` out of `leavers`, with the NC year to place
/// them back in: the year they left from, or the youngest when that year's
/// group is gone.
fn take_leaver(mis: &mut MisSnapshot, student_id: &str) -> Result<(Student, String), SimError> {
    let k = leaver_pos(mis, student_id)?;
    let student = mis.leavers.remove(k);
    let year = year_code_of(mis, &student).unwrap_or_else(|| youngest_year(mis));
    Ok((student, year))
}

/// Puts a former leaver back on roll in `year` (form and sets as
/// [`place`] chooses) with a new family of contacts; answers the student
/// as placed. Shared by [`re_enrol`] and [`restore`], which differ only in
/// the record that comes back.
fn back_on_roll(
    world: &mut World,
    mis: &mut MisSnapshot,
    student: Student,
    year: &str,
    now: Timestamp,
) -> Result<Student, SimError> {
    mis.students.push(student);
    let pos = mis.students.len() - 1;
    place(mis, pos, year, None, now)?;
    generate::families::add_new_family(world, mis, pos);
    Ok(mis.students[pos].clone())
}

/// A leaving date recorded ahead for a student still on roll (the MIS keeps
/// them on roll until the date): the student stays in `students`, now
/// carrying `leaving_date`.
pub(crate) fn set_leaving_date(
    world: &mut World,
    school_id: &str,
    student_id: &str,
    leaving_date: Option<NaiveDate>,
) -> Result<Student, SimError> {
    change_student(world, school_id, student_id, |mis, pos, now| {
        let student = &mut mis.students[pos];
        student.leaving_date = leaving_date;
        student.updated_at = now;
        Ok(student.clone())
    })
}

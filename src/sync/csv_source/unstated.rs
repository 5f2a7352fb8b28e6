//! Which of an account's own fields, and which memberships, a CSV file
//! says nothing of: those whose optional column its header lacks
//! (`Batch::unstated`).

use entity::{class_student, class_teacher, form_student, form_tutor, year_student};
use sea_orm::EntityName;
use std::collections::HashSet;

/// The optional columns of each file that are an account's own fields,
/// kept as stored when a file lacks the column
/// ([`Unstated`](crate::sync::source::Unstated)). Groups (see
/// [`memberships`]), links, `status`
/// and the dates are not among them: the dates decide a
/// pupil's or teacher's status in this run from the record, and a stored
/// date kept beside a status judged without it would disagree with it
/// (the daily sweep would undo the run's decision the next morning).
pub(super) const STUDENT_FIELDS: &[&str] = &["upn", "upi", "mis_id", "email"];
pub(super) const STAFF_FIELDS: &[&str] = &["upi", "mis_id", "title", "email"];
pub(super) const GUARDIAN_FIELDS: &[&str] = &["upi", "mis_id", "title", "forename", "email"];

/// The account columns a file leaves alone when it lacks these of its
/// columns: those of `fields` (identifiers and contact details) that are
/// absent. A guardian's `email_key` follows the email.
pub(super) fn of(absent: &[&'static str], fields: &[&'static str]) -> HashSet<&'static str> {
    let mut unstated: HashSet<&'static str> =
        absent.iter().copied().filter(|column| fields.contains(column)).collect();
    if unstated.contains("email") {
        unstated.insert("email_key");
    }
    unstated
}

/// The membership tables the files say nothing of: a member table whose
/// file is not given, or whose file lacks the column that lists its
/// groups (`year`, `form`, `classes` of students.csv; `forms`, `classes`
/// of staff.csv). `None` is a file not given.
pub(super) fn memberships(
    students: Option<&[&'static str]>,
    staff: Option<&[&'static str]>,
) -> HashSet<&'static str> {
    let lacks =
        |file: Option<&[&'static str]>, column: &str| file.is_none_or(|absent| absent.contains(&column));
    [
        (lacks(students, "year"), year_student::Entity.table_name()),
        (lacks(students, "form"), form_student::Entity.table_name()),
        (lacks(students, "classes"), class_student::Entity.table_name()),
        (lacks(staff, "forms"), form_tutor::Entity.table_name()),
        (lacks(staff, "classes"), class_teacher::Entity.table_name()),
    ]
    .into_iter()
    .filter_map(|(unstated, table)| unstated.then_some(table))
    .collect()
}

//! guardians.csv: each guardian once (their own columns repeated alike on
//! every row), and a link per row to a student of students.csv.

use std::collections::{HashMap, HashSet};

use super::table::{self, Errors};
use super::{CsvFile, GUARDIAN_COLUMNS};
use crate::sync::source::{MisGuardian, MisLink};

/// A guardian's own columns, which each of its rows must repeat alike.
const GUARDIAN_OWN: [&str; 7] = ["upi", "mis_id", "title", "forename", "surname", "email", "status"];

fn own_columns(guardian: &MisGuardian) -> [Option<&str>; 7] {
    [
        guardian.upi.as_deref(),
        guardian.mis_id.as_deref(),
        guardian.title.as_deref(),
        Some(guardian.forename.as_str()),
        Some(guardian.surname.as_str()),
        guardian.email.as_deref(),
        Some(if guardian.inactive_in_mis { "inactive" } else { "active" }),
    ]
}

/// Guardians (one each) and their links. `students`: the ids of
/// students.csv, when it was given.
/// `students`: the ids of students.csv's valid rows, and of all its rows.
pub(super) fn guardians(
    bytes: &[u8],
    students: Option<(&HashSet<&str>, &HashSet<String>)>,
    errors: &mut Errors,
) -> GuardianFile {
    let Some(table) = table::read(CsvFile::Guardians, bytes, GUARDIAN_COLUMNS, errors) else {
        return GuardianFile { guardians: Vec::new(), links: Vec::new(), absent: Vec::new() };
    };
    let mut guardians: Vec<MisGuardian> = Vec::new();
    // Guardian id to its first line and its place in `guardians`.
    let mut first: HashMap<String, (u32, usize)> = HashMap::new();
    let mut links: Vec<MisLink> = Vec::new();
    let mut linked: HashMap<(String, String), u32> = HashMap::new();
    for row in &table.rows {
        let mut cells = table.cells(row, errors);
        let line = cells.line();
        let id = cells.required("id");
        let surname = cells.required("surname");
        let student = cells.required("student_id");
        let email = cells.email("email");
        let inactive_in_mis = cells.inactive("status");
        let parental_responsibility = cells.boolean("parental_responsibility");
        let lives_with_student = cells.boolean("lives_with_student");
        let priority = cells.int("priority");
        if let (Some(student), Some((valid, listed))) = (&student, students)
            && !valid.contains(student.as_str())
        {
            let message = if listed.contains(student) {
                format!("student `{student}`'s row in students.csv has errors (above): fix it first")
            } else {
                format!("no student with id `{student}` in students.csv")
            };
            cells.error("student_id", message);
        }
        let (Some(id), Some(surname), Some(student)) = (id, surname, student) else { continue };
        let guardian = MisGuardian {
            source_id: id.clone(),
            upi: cells.text("upi"),
            mis_id: cells.text("mis_id"),
            title: cells.text("title"),
            forename: cells.text("forename").unwrap_or_default(),
            surname,
            email,
            inactive_in_mis,
        };
        match first.get(&id) {
            Some(&(first_line, index)) => {
                let before = own_columns(&guardians[index]);
                let now = own_columns(&guardian);
                if let Some(column) =
                    GUARDIAN_OWN.iter().zip(before.iter().zip(&now)).find(|(_, (a, b))| a != b)
                {
                    cells.error(
                        column.0,
                        format!(
                            "guardian `{id}` differs here from line {first_line}, where it first appears; \
                             a guardian's own columns must be the same on each of its rows"
                        ),
                    );
                }
            }
            None => {
                first.insert(id.clone(), (line, guardians.len()));
                guardians.push(guardian);
            }
        }
        if let Some(previous) = linked.insert((id.clone(), student.clone()), line) {
            cells.error(
                "student_id",
                format!("guardian `{id}` is already linked to student `{student}` on line {previous}"),
            );
            continue;
        }
        links.push(MisLink {
            student,
            guardian: id,
            relationship_label: cells.text("relationship"),
            parental_responsibility,
            lives_with_student,
            priority,
        });
    }
    GuardianFile { guardians, links, absent: table.absent }
}

/// guardians.csv read: each guardian once, each of their links, and the
/// format's columns its header does not name.
pub(super) struct GuardianFile {
    pub guardians: Vec<MisGuardian>,
    pub links: Vec<MisLink>,
    pub absent: Vec<&'static str>,
}

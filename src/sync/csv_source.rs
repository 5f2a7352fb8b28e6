//! CSV files as a source, for schools on a MIS that Wonde does not serve:
//! students.csv, staff.csv and guardians.csv become one [`Batch`], which
//! the same reconciliation applies as a Wonde run's.
//!
//! Every row of every file is validated before anything is applied; any
//! error refuses the whole import. The formats:
//!
//! - Headers are matched by name, case-insensitively, in any order; an
//!   unknown or repeated column is an error (a misspelt `leaving_date`
//!   must not silently keep leavers on roll). Files are UTF-8, with or
//!   without a byte-order mark; cells are trimmed; rows of blank cells are
//!   skipped. A file may be at most [`MAX_FILE_BYTES`], a cell at most
//!   [`MAX_CELL_CHARS`] characters.
//! - Files as Excel saves them: lines end in CRLF, LF or CR; fields are
//!   separated by commas, semicolons or tabs, whichever the header row
//!   uses (another separator, `|` say, is refused by name; in a `;` file
//!   a list cell is quoted, as Excel does); empty columns
//!   after the header's last name are ignored. Errors name the line a
//!   spreadsheet shows: the header is line 1, blank lines count, and a
//!   quoted cell spanning lines is one row.
//! - Dates are `YYYY-MM-DD` or the UK's `DD/MM/YYYY` (`D/M/YYYY` too):
//!   slashes are always day first, so `03/04/2026` is 3 April. Anything
//!   else (`2026/04/03`, two-digit years, 31/02/2026) is an error on its
//!   line and column, never a guess.
//! - **students**: `id` (required: the school's own stable id), `upn`,
//!   `upi`, `mis_id`, `forename` (required), `surname` (required), `email`,
//!   `year`, `form`, `classes` (`;`-separated), `leaving_date` (a date;
//!   on or before today makes a leaver), `status` (blank or `active`;
//!   `suspended` or `archived` is not on roll).
//! - **staff**: `id`, `forename`, `surname` (required), `upi`, `mis_id`,
//!   `title`, `email`, `forms` (tutor of, `;`-separated), `classes`
//!   (teaches, `;`-separated), `employment_end` (a date before today: not
//!   current), `status`.
//! - **guardians**: one row per guardian-child link: `id`, `surname`,
//!   `student_id` (required; the child's `id` in students.csv), `upi`,
//!   `mis_id`, `title`, `forename`, `email`, `status`, `relationship` (the
//!   MIS's words: Mother, Step-father, Carer...), `parental_responsibility`
//!   and `lives_with_student` (yes/no, true/false, 1/0, blank),
//!   `priority` (a whole number). A guardian's own columns must agree on
//!   each of its rows. Guardians need the students file.
//!
//! Year groups, forms and classes are the names these columns give, keyed
//! `year:NAME`, `form:NAME` and `class:NAME` (exactly as written), with the
//! current students and staff whose rows name them. Group lists speak for
//! the members present ([`Memberships::ByMember`]): a file of some students
//! moves those students and leaves the rest of each group alone; a file
//! without a group column says nothing of it (`unstated::memberships`). Likewise
//! a partial guardians file speaks only for the links it lists
//! ([`LinkScope::ByLink`]): it ends none; only `--full` does.

mod guardians;
mod table;
#[cfg(test)]
mod tests;
mod unstated;

use chrono::NaiveDate;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use super::source::{Batch, DataTypes, LinkScope, Memberships, MisGroup, MisStaff, MisStudent, Unstated};
use guardians::guardians;
use table::{Column, Errors, optional, required};

/// The largest file accepted: a school of 3,000 pupils with long rows is a
/// few megabytes, and the whole import is held in memory.
pub const MAX_FILE_BYTES: usize = 20 * 1024 * 1024;

/// The most errors one import lists; past it, a last error counts the rest.
pub const MAX_ERRORS: usize = 100;

/// The longest cell accepted, in characters.
pub const MAX_CELL_CHARS: usize = 1000;

/// The files of one import, as uploaded: any of them may be missing.
#[derive(Clone, Debug, Default)]
pub struct CsvFiles {
    pub students: Option<Vec<u8>>,
    pub staff: Option<Vec<u8>>,
    pub guardians: Option<Vec<u8>>,
}

/// Which file an error is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CsvFile {
    Students,
    Staff,
    Guardians,
}

impl CsvFile {
    /// `students`, `staff` or `guardians`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Students => "students",
            Self::Staff => "staff",
            Self::Guardians => "guardians",
        }
    }
}

impl CsvFile {
    /// Every file, in the order an import reads them.
    pub const ALL: [CsvFile; 3] = [CsvFile::Students, CsvFile::Staff, CsvFile::Guardians];

    /// `students`, `staff` or `guardians` as a file kind.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|file| file.as_str() == name)
    }

    fn columns(self) -> &'static [Column] {
        match self {
            Self::Students => STUDENT_COLUMNS,
            Self::Staff => STAFF_COLUMNS,
            Self::Guardians => GUARDIAN_COLUMNS,
        }
    }

    /// A blank file of this kind: its header row, every column in the
    /// order the format lists them, CRLF-ended as Excel writes.
    pub fn template(self) -> String {
        let names: Vec<&str> = self.columns().iter().map(|column| column.name).collect();
        format!("{}\r\n", names.join(","))
    }
}

impl fmt::Display for CsvFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason an import was refused, where it is: the line as a
/// spreadsheet shows it (the header is line 1; 0 is the file as a whole)
/// and the column, when one is to blame. Messages may quote one cell's
/// value, never a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvRowError {
    pub file: CsvFile,
    pub line: u32,
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for CsvRowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.csv", self.file)?;
        if self.line > 0 {
            write!(f, " line {}", self.line)?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column {column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for CsvRowError {}

const STUDENT_COLUMNS: &[Column] = &[
    required("id"),
    optional("upn"),
    optional("upi"),
    optional("mis_id"),
    required("forename"),
    required("surname"),
    optional("email"),
    optional("year"),
    optional("form"),
    optional("classes"),
    optional("leaving_date"),
    optional("status"),
];

const STAFF_COLUMNS: &[Column] = &[
    required("id"),
    optional("upi"),
    optional("mis_id"),
    optional("title"),
    required("forename"),
    required("surname"),
    optional("email"),
    optional("forms"),
    optional("classes"),
    optional("employment_end"),
    optional("status"),
];

const GUARDIAN_COLUMNS: &[Column] = &[
    required("id"),
    optional("upi"),
    optional("mis_id"),
    optional("title"),
    optional("forename"),
    required("surname"),
    optional("email"),
    optional("status"),
    required("student_id"),
    optional("relationship"),
    optional("parental_responsibility"),
    optional("lives_with_student"),
    optional("priority"),
];

/// Validates every row of `files` and, when all are right, turns them into
/// one batch. With `complete` (a full import), an account of a type whose
/// file is given and that the file lacks is gone (REMOVED_FROM_MIS); types
/// whose file is not given are left alone. `today` decides leavers.
pub fn parse(files: &CsvFiles, complete: bool, today: NaiveDate) -> Result<Batch, Vec<CsvRowError>> {
    let mut errors = Errors::default();
    if files.students.is_none() && files.staff.is_none() && files.guardians.is_none() {
        errors.add(CsvFile::Students, 0, None, "no file given: give students, staff or guardians");
        return Err(errors.into_vec());
    }
    let students = files.students.as_deref().map(|bytes| students(bytes, today, &mut errors));
    let staff = files.staff.as_deref().map(|bytes| staff(bytes, today, &mut errors));
    let guardians = files.guardians.as_deref().map(|bytes| {
        if students.is_none() {
            errors.add(
                CsvFile::Guardians,
                0,
                None,
                "guardians need students: give the students file too, which holds the children they are linked to",
            );
        }
        let student_ids: HashSet<&str> = students
            .iter()
            .flat_map(|file| file.rows.iter().map(|r| r.student.source_id.as_str()))
            .collect();
        let listed = students.as_ref().map(|file| &file.listed);
        guardians(bytes, listed.map(|listed| (&student_ids, listed)), &mut errors)
    });
    if !errors.is_empty() {
        return Err(errors.into_vec());
    }
    let unstated = Unstated {
        students: students
            .as_ref()
            .map(|f| unstated::of(&f.absent, unstated::STUDENT_FIELDS))
            .unwrap_or_default(),
        staff: staff.as_ref().map(|f| unstated::of(&f.absent, unstated::STAFF_FIELDS)).unwrap_or_default(),
        guardians: guardians
            .as_ref()
            .map(|f| unstated::of(&f.absent, unstated::GUARDIAN_FIELDS))
            .unwrap_or_default(),
        memberships: unstated::memberships(
            students.as_ref().map(|f| f.absent.as_slice()),
            staff.as_ref().map(|f| f.absent.as_slice()),
        ),
    };
    let [year_groups, form_groups, classes] = unstated.group_kinds_stated();
    let types = DataTypes {
        students: students.is_some(),
        staff: staff.is_some(),
        guardians: guardians.is_some(),
        year_groups,
        form_groups,
        classes,
    };
    let mut batch = Batch::new(complete, types);
    batch.memberships = Memberships::ByMember;
    batch.link_scope = LinkScope::ByLink;
    batch.unstated = unstated;
    let mut groups = Groups::default();
    for row in students.into_iter().flat_map(|file| file.rows) {
        if row.current {
            let id = &row.student.source_id;
            if let Some(year) = &row.year {
                groups.years.member(YEAR, year, id, true);
            }
            if let Some(form) = &row.form {
                groups.forms.member(FORM, form, id, true);
            }
            for class in &row.classes {
                groups.classes.member(CLASS, class, id, true);
            }
        }
        batch.students.push(row.student);
    }
    for row in staff.into_iter().flat_map(|file| file.rows) {
        if row.current {
            let id = &row.staff.source_id;
            for form in &row.forms {
                groups.forms.member(FORM, form, id, false);
            }
            for class in &row.classes {
                groups.classes.member(CLASS, class, id, false);
            }
        }
        batch.staff.push(row.staff);
    }
    if let Some(file) = guardians {
        batch.guardians = file.guardians;
        batch.links = file.links;
    }
    batch.year_groups = groups.years.into_groups();
    batch.form_groups = groups.forms.into_groups();
    batch.classes = groups.classes.into_groups();
    Ok(batch)
}

const YEAR: &str = "year";
const FORM: &str = "form";
const CLASS: &str = "class";

/// The source id of a group named in a CSV: its kind and name, so the same
/// name finds the same group at every import.
pub fn group_source_id(kind: &str, name: &str) -> String {
    format!("{kind}:{name}")
}

/// The columns every person file starts with, read and checked alike.
struct Identity {
    id: String,
    upi: Option<String>,
    forename: String,
    surname: String,
    email: Option<String>,
}

/// Ids and UPIs already seen in one file: each may appear once.
#[derive(Default)]
struct Seen {
    ids: Unique,
    upis: Unique,
}

impl Seen {
    /// Reads `id`, `upi`, `forename`, `surname` and `email`; `None` when a
    /// required one is missing (its error is recorded).
    fn identity(&mut self, cells: &mut table::Cells<'_>) -> Option<Identity> {
        let id = cells.required("id");
        let upi = cells.text("upi");
        let forename = cells.required("forename");
        let surname = cells.required("surname");
        let email = cells.email("email");
        if let Some(id) = &id {
            self.ids.check(cells, "id", id);
        }
        if let Some(upi) = &upi {
            self.upis.check(cells, "upi", upi);
        }
        Some(Identity { id: id?, upi, forename: forename?, surname: surname?, email })
    }
}

struct StudentRow {
    student: MisStudent,
    /// On roll: contributes to the groups it names.
    current: bool,
    year: Option<String>,
    form: Option<String>,
    classes: Vec<String>,
}

/// The rows of a file of people (students.csv, staff.csv), each made by
/// `person` from the row's cells and its identity as [`Seen`] checked it
/// (`None` when it is wrong: the errors are recorded, and `person` still
/// reads its other cells so that theirs are too); `None` skips the row.
fn people<T>(
    file: CsvFile,
    bytes: &[u8],
    columns: &'static [Column],
    errors: &mut Errors,
    mut person: impl FnMut(&mut table::Cells<'_>, Option<Identity>) -> Option<T>,
) -> People<T> {
    let Some(table) = table::read(file, bytes, columns, errors) else {
        return People { rows: Vec::new(), absent: Vec::new(), listed: HashSet::new() };
    };
    let mut seen = Seen::default();
    let mut rows = Vec::with_capacity(table.rows.len());
    let mut listed = HashSet::new();
    for row in &table.rows {
        let mut cells = table.cells(row, errors);
        listed.extend(cells.text("id"));
        let identity = seen.identity(&mut cells);
        rows.extend(person(&mut cells, identity));
    }
    People { rows, absent: table.absent, listed }
}

/// A file's rows, and the format's columns its header does not name.
struct People<T> {
    rows: Vec<T>,
    absent: Vec<&'static str>,
    /// The ids of every row of the file, its refused rows' included: a
    /// guardian of a pupil whose row has errors is told so, not that the
    /// pupil is missing.
    listed: HashSet<String>,
}

fn students(bytes: &[u8], today: NaiveDate, errors: &mut Errors) -> People<StudentRow> {
    people(CsvFile::Students, bytes, STUDENT_COLUMNS, errors, |cells, identity| {
        let leaving_date = cells.date("leaving_date");
        let inactive_in_mis = cells.inactive("status");
        let (year, form, classes) = (cells.text("year"), cells.text("form"), cells.list("classes"));
        let Identity { id, upi, forename, surname, email } = identity?;
        Some(StudentRow {
            current: !inactive_in_mis && leaving_date.is_none_or(|date| date > today),
            student: MisStudent {
                source_id: id,
                upi,
                mis_id: cells.text("mis_id"),
                upn: cells.text("upn"),
                forename,
                surname,
                email,
                leaving_date,
                inactive_in_mis,
                year: year.as_deref().map(|name| group_source_id(YEAR, name)),
                form: form.as_deref().map(|name| group_source_id(FORM, name)),
                groups_stated: true,
                classes: None,
            },
            year,
            form,
            classes,
        })
    })
}

struct StaffRow {
    staff: MisStaff,
    current: bool,
    forms: Vec<String>,
    classes: Vec<String>,
}

fn staff(bytes: &[u8], today: NaiveDate, errors: &mut Errors) -> People<StaffRow> {
    people(CsvFile::Staff, bytes, STAFF_COLUMNS, errors, |cells, identity| {
        // Employed through the end date, as Wonde's employment details read.
        let employment_end = cells.date("employment_end");
        let employed = employment_end.is_none_or(|end| end >= today);
        let inactive_in_mis = cells.inactive("status");
        let Identity { id, upi, forename, surname, email } = identity?;
        Some(StaffRow {
            current: employed && !inactive_in_mis,
            forms: cells.list("forms"),
            classes: cells.list("classes"),
            staff: MisStaff {
                source_id: id,
                upi,
                mis_id: cells.text("mis_id"),
                title: cells.text("title"),
                forename,
                surname,
                email,
                current: employed,
                employment_end,
                inactive_in_mis,
            },
        })
    })
}

/// Values that must not repeat in a column, with where each was first seen.
#[derive(Default)]
struct Unique(HashMap<String, u32>);

impl Unique {
    fn check(&mut self, cells: &mut table::Cells<'_>, column: &str, value: &str) {
        let line = cells.line();
        if let Some(first) = self.0.get(value) {
            let message = format!("`{value}` is already used on line {first}; each {column} must be unique");
            cells.error(column, message);
        } else {
            self.0.insert(value.to_owned(), line);
        }
    }
}

/// Groups of one kind by source id, sorted so a batch is the same whatever
/// the row order.
#[derive(Default)]
struct GroupsOf(BTreeMap<String, MisGroup>);

impl GroupsOf {
    fn member(&mut self, kind: &str, name: &str, member: &str, student: bool) {
        let source_id = group_source_id(kind, name);
        let group = self.0.entry(source_id.clone()).or_insert_with(|| MisGroup {
            source_id,
            name: name.to_owned(),
            ..MisGroup::default()
        });
        let members = if student { &mut group.students } else { &mut group.staff };
        members.push(member.to_owned());
    }

    fn into_groups(self) -> Vec<MisGroup> {
        self.0.into_values().collect()
    }
}

#[derive(Default)]
struct Groups {
    years: GroupsOf,
    forms: GroupsOf,
    classes: GroupsOf,
}

//! The MIS truth the simulator serves: plain structs with public fields, so
//! tests can compare what a sync stored against what the "MIS" holds.
//!
//! Relations are by Wonde id (strings), as in the API, so a snapshot can be
//! cloned out of the simulator and read without any of its internals.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Every timestamp the simulator emits is UTC, as Wonde's are.
pub type Timestamp = DateTime<Utc>;

/// Where a school stands in Wonde's access workflow (wonde-api.md §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessState {
    /// In the catalog; nobody asked.
    None,
    Pending,
    Approved,
    Declined,
    Revoked,
}

impl AccessState {
    /// The name used by the `/schools/{state}` lists and access responses.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessState::None => "none",
            AccessState::Pending => "pending",
            AccessState::Approved => "approved",
            AccessState::Declined => "declined",
            AccessState::Revoked => "revoked",
        }
    }
}

/// A school as Wonde describes it, plus the simulator's access bookkeeping.
#[derive(Clone, Debug, Serialize)]
pub struct School {
    pub id: String,
    pub name: String,
    pub urn: u32,
    pub la_code: String,
    pub establishment_number: String,
    pub phase_of_education: String,
    pub mis: String,
    pub address_line_1: String,
    pub town: String,
    pub postcode: String,
    /// The per-school token that opens this school's data.
    pub token: String,
    pub access: AccessState,
    /// True for the generated trust's schools (which have people); catalog
    /// extras are empty.
    pub in_trust: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub audit_approved_at: Option<Timestamp>,
}

/// A student, current or leaver. Year and form are by group id, as the MIS
/// holds one of each.
#[derive(Clone, Debug, Serialize)]
pub struct Student {
    pub id: String,
    pub upi: String,
    pub mis_id: String,
    pub forename: String,
    pub surname: String,
    pub middle_names: Option<String>,
    pub legal_surname: Option<String>,
    pub gender: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub upn: Option<String>,
    pub admission_number: String,
    pub admission_date: NaiveDate,
    pub leaving_date: Option<NaiveDate>,
    pub year_group_id: Option<String>,
    pub form_group_id: Option<String>,
    pub restored_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A member of staff. Ex-staff stay listed with `current == false`, as MIS
/// exports do; the sync must skip them.
#[derive(Clone, Debug, Serialize)]
pub struct Employee {
    pub id: String,
    pub upi: String,
    pub mis_id: String,
    pub title: Option<String>,
    pub forename: String,
    pub surname: String,
    pub gender: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub teaching_staff: bool,
    pub staff_code: String,
    pub role_text: String,
    pub current: bool,
    pub employment_start_date: NaiveDate,
    pub employment_end_date: Option<NaiveDate>,
    pub restored_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A guardian (Wonde "contact"). One record per school: the same person at
/// two schools is two contacts with (roughly) the same email.
#[derive(Clone, Debug, Serialize)]
pub struct Contact {
    pub id: String,
    pub upi: String,
    pub mis_id: String,
    pub title: Option<String>,
    pub forename: String,
    pub surname: String,
    pub gender: Option<String>,
    /// As the MIS stores it: case and surrounding spaces vary between schools.
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The student–contact pivot (`relationship` in Wonde's JSON).
#[derive(Clone, Debug, Serialize)]
pub struct Link {
    pub student_id: String,
    pub contact_id: String,
    pub relationship: String,
    pub parental_responsibility: bool,
    pub lives_with_pupil: bool,
    pub priority: u32,
    pub bill_payer: bool,
    pub email_bills: bool,
}

/// Wonde group types the simulator generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GroupKind {
    Year,
    Registration,
}

impl GroupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupKind::Year => "YEAR",
            GroupKind::Registration => "REGISTRATION",
        }
    }
}

/// A YEAR group or a REGISTRATION group (form). Student membership is held
/// on the student (`year_group_id` / `form_group_id`); staff (heads of year,
/// tutors) here.
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    pub id: String,
    pub mis_id: String,
    pub kind: GroupKind,
    pub name: String,
    pub code: String,
    pub description: String,
    /// The NC year code the group belongs to ("R", "1".."13").
    pub year_code: String,
    pub employee_ids: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One teacher on a class, with the pivot Wonde puts in `meta`.
#[derive(Clone, Debug, Serialize)]
pub struct Teaching {
    pub employee_id: String,
    pub is_main_teacher: bool,
    pub role: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Class {
    pub id: String,
    pub mis_id: String,
    pub name: String,
    pub description: String,
    pub subject_id: String,
    pub year_code: String,
    pub teachers: Vec<Teaching>,
    pub student_ids: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, Serialize)]
pub struct Subject {
    pub id: String,
    pub mis_id: String,
    pub code: String,
    pub name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An entry of the deletions feed: one per deleted top-level record.
#[derive(Clone, Debug, Serialize)]
pub struct Deletion {
    /// `student`, `employee`, `contact`, `class`, `group`.
    pub kind: String,
    pub id: String,
    pub mis_id: String,
    pub deleted_at: Timestamp,
    pub restored_at: Option<Timestamp>,
}

/// Everything one school's MIS holds right now. `truth()` hands out clones.
#[derive(Clone, Debug, Serialize)]
pub struct MisSnapshot {
    pub school: School,
    /// On roll now.
    pub students: Vec<Student>,
    /// The `students-leaver` collection.
    pub leavers: Vec<Student>,
    pub employees: Vec<Employee>,
    /// Contacts linked to at least one current student.
    pub contacts: Vec<Contact>,
    pub links: Vec<Link>,
    pub groups: Vec<Group>,
    pub classes: Vec<Class>,
    pub subjects: Vec<Subject>,
    pub deletions: Vec<Deletion>,
}

impl MisSnapshot {
    /// Current students of a YEAR or REGISTRATION group.
    pub fn group_student_ids(&self, group_id: &str) -> Vec<&str> {
        self.students
            .iter()
            .filter(|s| {
                s.year_group_id.as_deref() == Some(group_id) || s.form_group_id.as_deref() == Some(group_id)
            })
            .map(|s| s.id.as_str())
            .collect()
    }

    /// Employees the sync should import: current, and not past their end date.
    pub fn current_employees(&self, today: NaiveDate) -> Vec<&Employee> {
        self.employees
            .iter()
            .filter(|e| e.current && e.employment_end_date.is_none_or(|d| d >= today))
            .collect()
    }

    /// Links of one student, in priority order.
    pub fn links_of(&self, student_id: &str) -> Vec<&Link> {
        let mut links: Vec<&Link> = self.links.iter().filter(|l| l.student_id == student_id).collect();
        links.sort_by_key(|l| l.priority);
        links
    }

    pub fn student(&self, id: &str) -> Option<&Student> {
        self.students.iter().find(|s| s.id == id)
    }

    pub fn groups_of_kind(&self, kind: GroupKind) -> impl Iterator<Item = &Group> {
        self.groups.iter().filter(move |g| g.kind == kind)
    }
}

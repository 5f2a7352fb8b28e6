//! Wonde's records as they arrive on the wire (wonde-api.md §2.3), read
//! leniently. Only what the sync and the connection flow use is declared;
//! unknown fields are ignored. Turning these into Onroll's records is the
//! sync's job, so a Wonde change touches this module and one mapping.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::lenient::{self, Relation, RelationList};

/// `GET /schools/{id}`, and the entries of `/schools/all` and friends.
#[derive(Clone, Debug, Deserialize)]
pub struct WondeSchool {
    #[serde(deserialize_with = "lenient::id")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: Option<String>,
    /// A number in Wonde's JSON, a string in some lists: kept as text.
    #[serde(default, deserialize_with = "lenient::string")]
    pub urn: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub la_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub establishment_number: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub phase_of_education: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub mis: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub timezone: Option<String>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub address: Option<WondeAddress>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub region: Option<WondeRegion>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub extended: Option<WondeSchoolExtended>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl WondeSchool {
    pub fn postcode(&self) -> Option<&str> {
        self.address.as_ref()?.address_postcode.as_deref()
    }

    /// The regional API domain the school's data lives on.
    pub fn region_domain(&self) -> Option<&str> {
        self.region.as_ref()?.domain.as_deref()
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct WondeAddress {
    #[serde(default, deserialize_with = "lenient::string")]
    pub address_line_1: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub address_line_2: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub address_town: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub address_postcode: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct WondeRegion {
    #[serde(default, deserialize_with = "lenient::string")]
    pub code: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub domain: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub school_url: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct WondeSchoolExtended {
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub allows_writeback: Option<bool>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub audit_approved_at: Option<DateTime<Utc>>,
}

/// A student, from `students` or `students-leaver`, or nested in a class,
/// group or contact.
#[derive(Clone, Debug, Deserialize)]
pub struct WondeStudent {
    #[serde(deserialize_with = "lenient::id")]
    pub id: String,
    /// Stable across re-enrolment (a new `id`): the identity to match on.
    #[serde(default, deserialize_with = "lenient::string")]
    pub upi: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub mis_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub forename: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub surname: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub middle_names: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub legal_forename: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub legal_surname: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub gender: Option<String>,
    #[serde(default, deserialize_with = "lenient::date")]
    pub date_of_birth: Option<NaiveDate>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub restored_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub education_details: Relation<WondeEducationDetails>,
    /// The YEAR group.
    #[serde(default)]
    pub year: Relation<WondeGroup>,
    /// The REGISTRATION group (form).
    #[serde(default)]
    pub registration: Relation<WondeGroup>,
    #[serde(default)]
    pub contact_details: Relation<WondeContactDetails>,
    #[serde(default)]
    pub contacts: RelationList<WondeContact>,
    #[serde(default)]
    pub classes: RelationList<WondeClass>,
    /// The contact pivot, when this student is nested under a contact.
    #[serde(default)]
    pub relationship: Option<WondeRelationship>,
}

impl WondeStudent {
    pub fn upn(&self) -> Option<&str> {
        self.education_details.data()?.upn.as_deref()
    }

    pub fn leaving_date(&self) -> Option<NaiveDate> {
        self.education_details.data()?.leaving_date
    }

    pub fn year_id(&self) -> Option<&str> {
        self.year.id(|g| &g.id)
    }

    pub fn form_id(&self) -> Option<&str> {
        self.registration.id(|g| &g.id)
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct WondeEducationDetails {
    #[serde(default, deserialize_with = "lenient::string")]
    pub upn: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub admission_number: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub current_nc_year: Option<String>,
    #[serde(default, deserialize_with = "lenient::date")]
    pub admission_date: Option<NaiveDate>,
    #[serde(default, deserialize_with = "lenient::date")]
    pub leaving_date: Option<NaiveDate>,
}

/// The student–contact pivot. Known as an object; a bare string is read as
/// the relationship text, in case an MIS flattens it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WondeRelationship {
    /// The MIS text: "Mother", "Step-father", "Foster Carer"...
    pub relationship: Option<String>,
    pub parental_responsibility: Option<bool>,
    pub lives_with_pupil: Option<bool>,
    pub priority: Option<i64>,
    pub bill_payer: Option<bool>,
    pub email_bills: Option<bool>,
    pub court_order: Option<bool>,
}

#[derive(Deserialize)]
struct RelationshipFields {
    #[serde(default, deserialize_with = "lenient::string")]
    relationship: Option<String>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    parental_responsibility: Option<bool>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    lives_with_pupil: Option<bool>,
    #[serde(default, deserialize_with = "lenient::integer")]
    priority: Option<i64>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    bill_payer: Option<bool>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    email_bills: Option<bool>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    court_order: Option<bool>,
}

impl<'de> Deserialize<'de> for WondeRelationship {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            Text(String),
            Fields(RelationshipFields),
        }
        // Untagged buffers the value, but a pivot is a handful of scalars.
        Ok(match Shape::deserialize(d)? {
            Shape::Text(t) => WondeRelationship { relationship: Some(t), ..Default::default() },
            Shape::Fields(f) => WondeRelationship {
                relationship: f.relationship,
                parental_responsibility: f.parental_responsibility,
                lives_with_pupil: f.lives_with_pupil,
                priority: f.priority,
                bill_payer: f.bill_payer,
                email_bills: f.email_bills,
                court_order: f.court_order,
            },
        })
    }
}

/// A guardian (Wonde "contact").
#[derive(Clone, Debug, Deserialize)]
pub struct WondeContact {
    #[serde(deserialize_with = "lenient::id")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub upi: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub mis_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub forename: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub surname: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub middle_names: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub gender: Option<String>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub restored_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The pivot, when nested under a student.
    #[serde(default)]
    pub relationship: Option<WondeRelationship>,
    /// Some clients read priority on the contact itself; accept it there.
    #[serde(default, deserialize_with = "lenient::integer")]
    pub priority: Option<i64>,
    #[serde(default)]
    pub contact_details: Relation<WondeContactDetails>,
    /// Students of this contact, each with its `relationship` pivot.
    #[serde(default)]
    pub students: RelationList<WondeStudent>,
}

impl WondeContact {
    pub fn email(&self) -> Option<&str> {
        self.contact_details.data()?.email()
    }
}

/// Shared by students, employees and contacts.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct WondeContactDetails {
    #[serde(default, deserialize_with = "lenient::object")]
    pub emails: Option<WondeEmails>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub phones: Option<WondePhones>,
    /// A flat `email`, as some payloads carry.
    #[serde(default, deserialize_with = "lenient::string")]
    pub email: Option<String>,
}

impl WondeContactDetails {
    /// The address to use: `email`, then primary, home, work, then a flat
    /// `email`. As the MIS typed it (case and spaces are the caller's to fold).
    pub fn email(&self) -> Option<&str> {
        let nested = self.emails.as_ref().and_then(|e| {
            [&e.email, &e.primary, &e.home, &e.work]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .find(|s| !s.trim().is_empty())
        });
        nested.or(self.email.as_deref().filter(|s| !s.trim().is_empty()))
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct WondeEmails {
    #[serde(default, deserialize_with = "lenient::string")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub primary: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub home: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub work: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct WondePhones {
    #[serde(default, deserialize_with = "lenient::string")]
    pub phone: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub primary: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub mobile: Option<String>,
}

/// A member of staff.
#[derive(Clone, Debug, Deserialize)]
pub struct WondeEmployee {
    #[serde(deserialize_with = "lenient::id")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub upi: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub mis_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub initials: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub forename: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub surname: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub middle_names: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub gender: Option<String>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub restored_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub employment_details: Relation<WondeEmploymentDetails>,
    #[serde(default)]
    pub contact_details: Relation<WondeContactDetails>,
    #[serde(default)]
    pub classes: RelationList<WondeClass>,
    /// The class pivot, when nested under a class.
    #[serde(default, deserialize_with = "lenient::object")]
    pub meta: Option<WondeClassPivot>,
}

impl WondeEmployee {
    pub fn email(&self) -> Option<&str> {
        self.contact_details.data()?.email()
    }

    /// Employed on `today`: not marked `current: false` and not past an end
    /// date. Without employment details Wonde lists only staff it considers
    /// current, so that reads as employed.
    pub fn is_current_on(&self, today: NaiveDate) -> bool {
        match self.employment_details.data() {
            None => true,
            Some(d) => d.current != Some(false) && d.employment_end_date.is_none_or(|end| end >= today),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct WondeEmploymentDetails {
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub current: Option<bool>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub teaching_staff: Option<bool>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub staff_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub role_text: Option<String>,
    /// Plain `YYYY-MM-DD` strings in some MIS, DateTime objects in others.
    #[serde(default, deserialize_with = "lenient::date")]
    pub employment_start_date: Option<NaiveDate>,
    #[serde(default, deserialize_with = "lenient::date")]
    pub employment_end_date: Option<NaiveDate>,
}

/// The class–employee pivot (`meta`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct WondeClassPivot {
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub is_main_teacher: Option<bool>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub is_class_teacher: Option<bool>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub role: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_list")]
    pub all_roles: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WondeClass {
    #[serde(deserialize_with = "lenient::id")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub mis_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub code: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub description: Option<String>,
    #[serde(default)]
    pub subject: Relation<WondeSubject>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub restored_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The pivot, when nested under an employee; null when fetched directly.
    #[serde(default, deserialize_with = "lenient::object")]
    pub meta: Option<WondeClassPivot>,
    /// Teachers, each with its `meta` pivot.
    #[serde(default)]
    pub employees: RelationList<WondeEmployee>,
    #[serde(default)]
    pub students: RelationList<WondeStudent>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WondeSubject {
    #[serde(deserialize_with = "lenient::id")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub code: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: Option<String>,
}

/// The group types the sync reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupType {
    /// Year groups.
    Year,
    /// Form (tutor) groups.
    Registration,
}

impl GroupType {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupType::Year => "YEAR",
            GroupType::Registration => "REGISTRATION",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct WondeGroup {
    #[serde(deserialize_with = "lenient::id")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub mis_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub code: Option<String>,
    /// `YEAR`, `REGISTRATION`, `HOUSE`...; as sent.
    #[serde(default, rename = "type", deserialize_with = "lenient::string")]
    pub group_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub restored_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub students: RelationList<WondeStudent>,
    /// Tutors (forms) or heads of year.
    #[serde(default)]
    pub employees: RelationList<WondeEmployee>,
}

impl WondeGroup {
    pub fn is_type(&self, t: GroupType) -> bool {
        self.group_type.as_deref().is_some_and(|g| g.trim().eq_ignore_ascii_case(t.as_str()))
    }
}

/// An entry of the deletions feed.
#[derive(Clone, Debug, Deserialize)]
pub struct WondeDeletion {
    /// `student`, `employee`, `contact`, `class`, `group`...
    #[serde(default, rename = "type", deserialize_with = "lenient::string")]
    pub record_type: Option<String>,
    /// The deleted record's Wonde id.
    #[serde(deserialize_with = "lenient::id")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub mis_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// Set when the record came back with the same MIS id: not a deletion
    /// any more.
    #[serde(default, deserialize_with = "lenient::datetime")]
    pub restored_at: Option<DateTime<Utc>>,
}

/// Answer of request-access and revoke-access:
/// `{"success":true,"state":"pending","message":"Access request successfully received"}`.
///
/// Read as loosely as a three-field answer allows, as only a client
/// author's mock shows its shape (wonde-api.md §5): any field may be missing
/// or of another type (`"success": "1"`, `"state": "Pending"`), the fields
/// may come wrapped in `data`, and `[]`, `null` or a non-object read as an
/// empty answer. [`AccessResponse::outcome`] says what it means.
#[derive(Clone, Debug, Default)]
pub struct AccessResponse {
    pub success: Option<bool>,
    /// `pending`, `approved`, `revoked`...
    pub state: Option<String>,
    pub message: Option<String>,
}

/// What an access answer means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessOutcome {
    /// The request is with the school (request-access).
    Pending,
    /// Access exists already: request-access on an approved school. The
    /// caller may revoke and ask again.
    AlreadyApproved,
    /// Access is revoked (revoke-access).
    Revoked,
    Declined,
    /// Nothing recognisable in the answer.
    Unknown,
}

impl AccessResponse {
    /// `state` first; without one, the message; without either, `Unknown`
    /// (whatever `success` says, it does not tell which state).
    pub fn outcome(&self) -> AccessOutcome {
        let state = self.state.as_deref().map(|s| s.trim().to_ascii_lowercase());
        match state.as_deref() {
            Some("pending") => return AccessOutcome::Pending,
            Some("approved" | "audited") => return AccessOutcome::AlreadyApproved,
            Some("revoked") => return AccessOutcome::Revoked,
            Some("declined") => return AccessOutcome::Declined,
            _ => {}
        }
        let message = self.message.as_deref().unwrap_or_default().to_ascii_lowercase();
        if message.contains("already approved") || message.contains("already has access") {
            AccessOutcome::AlreadyApproved
        } else if message.contains("revoked") {
            AccessOutcome::Revoked
        } else if message.contains("declined") {
            AccessOutcome::Declined
        } else if message.contains("pending") || message.contains("request successfully received") {
            AccessOutcome::Pending
        } else {
            AccessOutcome::Unknown
        }
    }
}

impl<'de> Deserialize<'de> for AccessResponse {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde_json::Value;
        fn text(v: Option<&Value>) -> Option<String> {
            match v? {
                Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        }
        fn flag(v: Option<&Value>) -> Option<bool> {
            match v? {
                Value::Bool(b) => Some(*b),
                Value::Number(n) => n.as_i64().map(|n| n != 0),
                Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "y" => Some(true),
                    "false" | "0" | "no" | "n" => Some(false),
                    _ => None,
                },
                _ => None,
            }
        }
        let value = Value::deserialize(d)?;
        let Value::Object(top) = value else {
            return Ok(AccessResponse::default());
        };
        let own = ["success", "state", "message"].iter().any(|k| top.contains_key(*k));
        let fields = match top.get("data") {
            Some(Value::Object(inner)) if !own => inner,
            _ => &top,
        };
        Ok(AccessResponse {
            success: flag(fields.get("success")),
            state: text(fields.get("state")),
            message: text(fields.get("message")),
        })
    }
}

/// Who asks for access; Wonde passes it to the school ("can speed up approval").
#[derive(Clone, Debug, Default, Serialize)]
pub struct AccessContact {
    pub first_name: String,
    pub last_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    pub email_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct AccessRequest {
    pub contacts: Vec<AccessContact>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn student_with_includes_and_nulls() -> Result<(), serde_json::Error> {
        let s: WondeStudent = serde_json::from_value(json!({
            "id": "A1504266511", "upi": "741c7c6d3a27252f799fea9384884a7a", "mis_id": 12741,
            "forename": "Mabon", "surname": "Pendry", "middle_names": null, "gender": null,
            "date_of_birth": {"date": "2010-03-15 00:00:00.000000", "timezone_type": 3, "timezone": "UTC"},
            "updated_at": {"date": "2023-05-20 05:07:27.000000", "timezone_type": 3, "timezone": "UTC"},
            "year": {"data": {"id": "AY7", "code": "7", "name": "Year 7", "type": "YEAR"}},
            "registration": "AF1",
            "education_details": {"data": {"upn": "A123", "leaving_date": null, "admission_date": "2019-09-01"}},
            "contacts": {"data": [{"id": "AC1", "relationship": {"relationship": "Mother",
                "parental_responsibility": "1", "priority": "1", "lives_with_pupil": null}}]},
            "some_new_field": {"anything": [1, 2, 3]}
        }))?;
        assert_eq!(s.mis_id.as_deref(), Some("12741"));
        assert_eq!(s.upn(), Some("A123"));
        assert_eq!(s.year_id(), Some("AY7"));
        assert_eq!(s.form_id(), Some("AF1"));
        assert_eq!(s.date_of_birth, NaiveDate::from_ymd_opt(2010, 3, 15));
        let pivot = s.contacts.items[0].relationship.clone().unwrap_or_default();
        assert_eq!(pivot.relationship.as_deref(), Some("Mother"));
        assert_eq!(pivot.parental_responsibility, Some(true));
        assert_eq!(pivot.priority, Some(1));
        assert_eq!(pivot.lives_with_pupil, None);
        Ok(())
    }

    #[test]
    fn relationship_as_plain_text() -> Result<(), serde_json::Error> {
        let c: WondeContact = serde_json::from_value(json!({"id": "A1", "relationship": "Father"}))?;
        assert_eq!(c.relationship.and_then(|r| r.relationship).as_deref(), Some("Father"));
        Ok(())
    }

    #[test]
    fn employee_current_rules() -> Result<(), serde_json::Error> {
        let today = NaiveDate::from_ymd_opt(2025, 1, 10).unwrap_or_default();
        let e: WondeEmployee = serde_json::from_value(json!({"id": "A1",
            "employment_details": {"data": {"current": "1", "employment_end_date": "2024-12-31"}}}))?;
        assert!(!e.is_current_on(today));
        let e: WondeEmployee = serde_json::from_value(json!({"id": "A1",
            "employment_details": {"data": {"current": false}}}))?;
        assert!(!e.is_current_on(today));
        let e: WondeEmployee = serde_json::from_value(json!({"id": "A1",
            "employment_details": {"data": {"current": true, "employment_end_date": null}},
            "contact_details": {"data": {"emails": {"email": null, "primary": " a@b.c "}}}}))?;
        assert!(e.is_current_on(today));
        assert_eq!(e.email(), Some(" a@b.c "));
        Ok(())
    }

    #[test]
    fn school_urn_number_or_string_and_php_empty_arrays() -> Result<(), serde_json::Error> {
        let s: WondeSchool = serde_json::from_value(json!({"id": "A1", "urn": 10003,
            "address": {"address_postcode": "CB8 7SG", "address_country": {"code": "GBR"}},
            "region": {"domain": "api.wonde.com"}, "extended": []}))?;
        assert_eq!(s.urn.as_deref(), Some("10003"));
        assert_eq!(s.postcode(), Some("CB8 7SG"));
        assert_eq!(s.region_domain(), Some("api.wonde.com"));
        let s: WondeSchool = serde_json::from_value(json!({"id": "A1", "urn": "10003"}))?;
        assert_eq!(s.urn.as_deref(), Some("10003"));
        Ok(())
    }

    #[test]
    fn access_answers_read_loosely() -> Result<(), serde_json::Error> {
        let read = |v: serde_json::Value| serde_json::from_value::<AccessResponse>(v);
        let pending = read(
            json!({"success": true, "state": "pending", "message": "Access request successfully received"}),
        )?;
        assert_eq!((pending.success, pending.outcome()), (Some(true), AccessOutcome::Pending));
        let approved = read(json!({"success": "0", "state": " Approved ", "message": ["odd"]}))?;
        assert_eq!((approved.success, approved.outcome()), (Some(false), AccessOutcome::AlreadyApproved));
        assert_eq!(approved.message, None);
        let by_message = read(json!({"success": false, "message": "Access already approved"}))?;
        assert_eq!(by_message.outcome(), AccessOutcome::AlreadyApproved);
        let wrapped = read(json!({"data": {"success": 1, "state": "revoked", "message": "Access revoked"}}))?;
        assert_eq!((wrapped.success, wrapped.outcome()), (Some(true), AccessOutcome::Revoked));
        assert_eq!(read(json!({"state": "declined"}))?.outcome(), AccessOutcome::Declined);
        assert_eq!(read(json!({"state": 7, "success": {}}))?.outcome(), AccessOutcome::Unknown);
        for empty in [json!([]), json!(null), json!("ok"), json!({})] {
            let r = read(empty)?;
            assert_eq!((r.success, r.outcome()), (None, AccessOutcome::Unknown));
        }
        Ok(())
    }

    #[test]
    fn missing_id_is_an_error() {
        assert!(serde_json::from_value::<WondeStudent>(json!({"forename": "X"})).is_err());
        assert!(serde_json::from_value::<WondeStudent>(json!({"id": null})).is_err());
    }

    #[test]
    fn class_with_teacher_pivot_and_bare_subject() -> Result<(), serde_json::Error> {
        let c: WondeClass = serde_json::from_value(json!({"id": "A1", "subject": "AS1", "meta": null,
            "employees": {"data": [{"id": "AE1", "meta": {"is_main_teacher": true, "role": "Main Class Teacher",
                "all_roles": ["Main Class Teacher", "Class Teacher"]}}]}}))?;
        assert!(matches!(&c.subject, Relation::Id(id) if id == "AS1"));
        let pivot = c.employees.items[0].meta.clone().unwrap_or_default();
        assert_eq!(pivot.is_main_teacher, Some(true));
        assert_eq!(pivot.all_roles.len(), 2);
        Ok(())
    }
}

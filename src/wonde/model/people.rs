//! People on the wire: students (with education details and guardian
//! relationships), contacts and employees.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::groups::{WondeClass, WondeClassPivot, WondeGroup};
use crate::wonde::lenient::{self, Relation, RelationList};

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
    fn missing_id_is_an_error() {
        assert!(serde_json::from_value::<WondeStudent>(json!({"forename": "X"})).is_err());
        assert!(serde_json::from_value::<WondeStudent>(json!({"id": null})).is_err());
    }
}

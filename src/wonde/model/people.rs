//! People on the wire: students (with education details and guardian
//! relationships), contacts and employees.

use chrono::NaiveDate;
use serde::Deserialize;

use super::groups::{WondeClass, WondeClassPivot, WondeGroup};
use crate::wonde::lenient::{self, Relation, RelationList};

wonde_record! {
    /// A student, from `students` or `students-leaver`, or nested in a class,
    /// group or contact.
    #[derive(Clone, Debug, Deserialize)]
    pub struct WondeStudent {
        ..identity,
        ..names,
        pub legal_forename: Option<String>,
        pub legal_surname: Option<String>,
        pub gender: Option<String>,
        pub date_of_birth: Option<NaiveDate>,
        ..dated,
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

wonde_record! {
    #[derive(Clone, Debug, Default, Deserialize)]
    pub struct WondeEducationDetails {
        pub upn: Option<String>,
        pub admission_number: Option<String>,
        pub current_nc_year: Option<String>,
        pub admission_date: Option<NaiveDate>,
        pub leaving_date: Option<NaiveDate>,
    }
}

wonde_record! {
    /// The student–contact pivot. Known as an object; a bare string is read as
    /// the relationship text, in case an MIS flattens it.
    // `remote = "Self"` makes the derive the inherent
    // `WondeRelationship::deserialize`: the object shape, which the
    // `Deserialize` below tries after the bare string.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
    #[serde(remote = "Self")]
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
}

impl<'de> Deserialize<'de> for WondeRelationship {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            Text(String),
            Fields(#[serde(with = "WondeRelationship")] WondeRelationship),
        }
        // Untagged buffers the value, but a pivot is a handful of scalars.
        Ok(match Shape::deserialize(d)? {
            Shape::Text(t) => WondeRelationship { relationship: Some(t), ..Default::default() },
            Shape::Fields(fields) => fields,
        })
    }
}

wonde_record! {
    /// A guardian (Wonde "contact").
    #[derive(Clone, Debug, Deserialize)]
    pub struct WondeContact {
        ..identity,
        pub title: Option<String>,
        ..names,
        pub gender: Option<String>,
        ..dated,
        /// The pivot, when nested under a student.
        #[serde(default)]
        pub relationship: Option<WondeRelationship>,
        /// Some clients read priority on the contact itself; accept it there.
        pub priority: Option<i64>,
        #[serde(default)]
        pub contact_details: Relation<WondeContactDetails>,
        /// Students of this contact, each with its `relationship` pivot.
        #[serde(default)]
        pub students: RelationList<WondeStudent>,
    }
}

impl WondeContact {
    pub fn email(&self) -> Option<&str> {
        self.contact_details.data()?.email()
    }
}

wonde_record! {
    /// Shared by students, employees and contacts.
    #[derive(Clone, Debug, Default, Deserialize)]
    pub struct WondeContactDetails {
        #[serde(default, deserialize_with = "lenient::object")]
        pub emails: Option<WondeEmails>,
        #[serde(default, deserialize_with = "lenient::object")]
        pub phones: Option<WondePhones>,
        /// A flat `email`, as some payloads carry.
        pub email: Option<String>,
    }
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

wonde_record! {
    #[derive(Clone, Debug, Default, Deserialize)]
    pub struct WondeEmails {
        pub email: Option<String>,
        pub primary: Option<String>,
        pub home: Option<String>,
        pub work: Option<String>,
    }
}

wonde_record! {
    #[derive(Clone, Debug, Default, Deserialize)]
    pub struct WondePhones {
        pub phone: Option<String>,
        pub primary: Option<String>,
        pub mobile: Option<String>,
    }
}

wonde_record! {
    /// A member of staff.
    #[derive(Clone, Debug, Deserialize)]
    pub struct WondeEmployee {
        ..identity,
        pub title: Option<String>,
        pub initials: Option<String>,
        ..names,
        pub gender: Option<String>,
        ..dated,
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

wonde_record! {
    #[derive(Clone, Debug, Default, Deserialize)]
    pub struct WondeEmploymentDetails {
        pub current: Option<bool>,
        pub teaching_staff: Option<bool>,
        pub staff_code: Option<String>,
        pub role_text: Option<String>,
        /// Plain `YYYY-MM-DD` strings in some MIS, DateTime objects in others.
        pub employment_start_date: Option<NaiveDate>,
        pub employment_end_date: Option<NaiveDate>,
    }
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
    fn shared_fields_read_leniently() -> Result<(), serde_json::Error> {
        let e: WondeEmployee = serde_json::from_value(json!({"id": 5, "upi": 77, "forename": "Ann",
            "middle_names": "", "created_at": "2024-01-02", "restored_at": null}))?;
        assert_eq!((e.id.as_str(), e.upi.as_deref(), e.forename.as_deref()), ("5", Some("77"), Some("Ann")));
        assert_eq!((e.middle_names, e.restored_at), (None, None));
        assert_eq!(e.created_at.map(|t| t.date_naive()), NaiveDate::from_ymd_opt(2024, 1, 2));
        assert!(serde_json::from_value::<WondeContact>(json!({"upi": "X"})).is_err());
        assert!(serde_json::from_value::<WondeEmployee>(json!({"id": "A1", "updated_at": "soon"})).is_err());
        Ok(())
    }

    #[test]
    fn missing_id_is_an_error() {
        assert!(serde_json::from_value::<WondeStudent>(json!({"forename": "X"})).is_err());
        assert!(serde_json::from_value::<WondeStudent>(json!({"id": null})).is_err());
    }
}

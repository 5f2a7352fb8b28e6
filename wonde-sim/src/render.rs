//! The JSON shapes Wonde sends (wonde-api.md §1-2): PHP DateTime objects,
//! `{"data": ...}` wrappers for includes, bare id strings for relations that
//! were not included, and the class–employee and student–contact pivots.

use std::collections::HashMap;

use serde_json::{Value, json};

pub(crate) mod includes;
pub(crate) mod patches;
mod shapes;

use self::includes::{ClassInc, ContactInc, EmployeeInc, GroupInc, StudentInc};
use self::shapes::{date_object, date_string, datetime, datetime_seconds, initials, opt_datetime};
use crate::model::{Class, Contact, Deletion, Employee, Group, Link, MisSnapshot, School, Student, Subject};
use crate::world::{Index, Quirks};

pub(crate) struct Renderer<'a> {
    pub mis: &'a MisSnapshot,
    pub ix: &'a Index,
    pub quirks: Quirks,
}

impl Renderer<'_> {
    fn flag(&self, b: bool) -> Value {
        if self.quirks.string_booleans {
            Value::String(if b { "1" } else { "0" }.to_owned())
        } else {
            Value::Bool(b)
        }
    }

    /// A to-one relation: `{"data":{...}}` when included, else the bare id.
    fn to_one(
        &self,
        included: bool,
        id: Option<&String>,
        render: impl FnOnce(&str) -> Option<Value>,
    ) -> Value {
        match (included, id) {
            (true, Some(id)) => json!({ "data": render(id).unwrap_or(Value::Null) }),
            (true, None) => json!({ "data": null }),
            (false, Some(id)) => Value::String(id.clone()),
            (false, None) => Value::Null,
        }
    }

    pub fn student(&self, s: &Student, inc: &StudentInc) -> Value {
        let mut o = json!({
            "id": s.id,
            "upi": s.upi,
            "mis_id": s.mis_id,
            "initials": initials(&s.forename, &s.surname),
            "surname": s.surname,
            "forename": s.forename,
            "middle_names": s.middle_names,
            "legal_surname": s.legal_surname,
            "legal_forename": null,
            "gender": s.gender,
            "date_of_birth": date_object(s.date_of_birth),
            "restored_at": opt_datetime(s.restored_at.as_ref()),
            "created_at": datetime(&s.created_at),
            "updated_at": datetime(&s.updated_at),
        });
        let Some(m) = o.as_object_mut() else { return o };
        m.insert(
            "year".into(),
            self.to_one(inc.year, s.year_group_id.as_ref(), |id| self.group_by_id(id, &GroupInc::default())),
        );
        m.insert(
            "registration".into(),
            self.to_one(inc.registration, s.form_group_id.as_ref(), |id| {
                self.group_by_id(id, &GroupInc::default())
            }),
        );
        if inc.education_details {
            m.insert(
                "education_details".into(),
                json!({ "data": {
                    "admission_number": s.admission_number,
                    "upn": s.upn,
                    "local_upn": null,
                    "former_upn": null,
                    "learner_number": null,
                    "current_nc_year": self.year_code_of(s),
                    "part_time": self.flag(false),
                    "part_time_rate": null,
                    "admission_date": date_object(Some(s.admission_date)),
                    "leaving_date": date_object(s.leaving_date),
                }}),
            );
        }
        if inc.contact_details {
            m.insert("contact_details".into(), json!({ "data": contact_details(None, None) }));
        }
        if let Some(ci) = &inc.contacts {
            let contacts = self.linked(positions(&self.ix.links_by_student, &s.id), |link| {
                self.contact_by_id(&link.contact_id, ci)
            });
            m.insert("contacts".into(), contacts);
        }
        if let Some(ci) = &inc.classes {
            let classes =
                positions(&self.ix.classes_by_student, &s.id).map(|k| self.class(&self.mis.classes[k], ci));
            m.insert("classes".into(), included(classes));
        }
        o
    }

    fn year_code_of(&self, s: &Student) -> Value {
        s.year_group_id
            .as_ref()
            .and_then(|g| self.ix.group.get(g))
            .map_or(Value::Null, |&i| Value::String(self.mis.groups[i].year_code.clone()))
    }

    /// The records at the other end of `links` (positions in `mis.links`),
    /// each with the link's pivot as its `relationship`.
    fn linked(&self, links: impl Iterator<Item = usize>, other: impl Fn(&Link) -> Option<Value>) -> Value {
        included(links.filter_map(|li| {
            let link = &self.mis.links[li];
            Some(with_pivot(other(link)?, "relationship", self.pivot(link)))
        }))
    }

    /// The student–contact pivot, as an object (never a plain string).
    fn pivot(&self, l: &Link) -> Value {
        json!({
            "relationship": l.relationship,
            "parental_responsibility": self.flag(l.parental_responsibility),
            "lives_with_pupil": self.flag(l.lives_with_pupil),
            "priority": l.priority,
            "bill_payer": self.flag(l.bill_payer),
            "email_bills": self.flag(l.email_bills),
            "email_summary": null,
            "court_order": null,
        })
    }

    pub fn contact(&self, c: &Contact, inc: &ContactInc) -> Value {
        let mut o = json!({
            "id": c.id,
            "upi": c.upi,
            "mis_id": c.mis_id,
            "initials": initials(&c.forename, &c.surname),
            "title": c.title,
            "surname": c.surname,
            "forename": c.forename,
            "middle_names": null,
            "legal_surname": c.surname,
            "legal_forename": c.forename,
            "gender": c.gender,
            "date_of_birth": null,
            "restored_at": null,
            "created_at": datetime(&c.created_at),
            "updated_at": datetime(&c.updated_at),
        });
        let Some(m) = o.as_object_mut() else { return o };
        if inc.contact_details {
            m.insert(
                "contact_details".into(),
                json!({ "data": contact_details(c.email.as_deref(), c.mobile.as_deref()) }),
            );
        }
        if let Some(si) = &inc.students {
            let students = self.linked(positions(&self.ix.links_by_contact, &c.id), |link| {
                self.student_by_id(&link.student_id, si)
            });
            m.insert("students".into(), students);
        }
        o
    }

    pub fn employee(&self, e: &Employee, inc: &EmployeeInc) -> Value {
        let mut o = json!({
            "id": e.id,
            "upi": e.upi,
            "mis_id": e.mis_id,
            "initials": initials(&e.forename, &e.surname),
            "title": e.title,
            "surname": e.surname,
            "forename": e.forename,
            "middle_names": null,
            "legal_surname": e.surname,
            "legal_forename": e.forename,
            "gender": e.gender,
            "date_of_birth": null,
            "restored_at": opt_datetime(e.restored_at.as_ref()),
            "created_at": datetime(&e.created_at),
            "updated_at": datetime(&e.updated_at),
        });
        let Some(m) = o.as_object_mut() else { return o };
        if inc.employment_details {
            m.insert(
                "employment_details".into(),
                json!({ "data": {
                    "current": self.flag(e.current),
                    "teaching_staff": self.flag(e.teaching_staff),
                    "teacher_number": null,
                    "teacher_category": null,
                    "staff_code": e.staff_code,
                    "primary_location": null,
                    "employment_start_date": date_string(Some(e.employment_start_date)),
                    "employment_end_date": date_string(e.employment_end_date),
                    "role_text": e.role_text,
                    "qualified_teacher_status": null,
                    "employee_payroll_number": null,
                }}),
            );
        }
        if inc.contact_details {
            m.insert(
                "contact_details".into(),
                json!({ "data": contact_details(e.email.as_deref(), e.phone.as_deref()) }),
            );
        }
        if let Some(ci) = &inc.classes {
            let classes = positions(&self.ix.classes_by_employee, &e.id).map(|k| {
                let class = &self.mis.classes[k];
                let v = self.class(class, ci);
                match class.teachers.iter().find(|t| t.employee_id == e.id) {
                    Some(t) => with_pivot(v, "meta", teaching_meta(t.is_main_teacher, &t.role)),
                    None => v,
                }
            });
            m.insert("classes".into(), included(classes));
        }
        o
    }

    pub fn class(&self, c: &Class, inc: &ClassInc) -> Value {
        let mut o = json!({
            "id": c.id,
            "mis_id": c.mis_id,
            "name": c.name,
            "code": null,
            "description": c.description,
            "alternative": null,
            "priority": null,
            "academic_year": null,
            "year_group": c.year_code,
            "restored_at": null,
            "created_at": datetime(&c.created_at),
            "updated_at": datetime(&c.updated_at),
            "meta": null,
        });
        let Some(m) = o.as_object_mut() else { return o };
        m.insert(
            "subject".into(),
            self.to_one(inc.subject, Some(&c.subject_id), |id| {
                self.ix.subject.get(id).map(|&i| subject(&self.mis.subjects[i]))
            }),
        );
        if let Some(ei) = &inc.employees {
            let employees = c.teachers.iter().filter_map(|t| {
                let e = self.employee_by_id(&t.employee_id, ei)?;
                Some(with_pivot(e, "meta", teaching_meta(t.is_main_teacher, &t.role)))
            });
            m.insert("employees".into(), included(employees));
        }
        if let Some(si) = &inc.students {
            let students = c.student_ids.iter().filter_map(|id| self.student_by_id(id, si));
            m.insert("students".into(), included(students));
        }
        o
    }

    fn group_by_id(&self, id: &str, inc: &GroupInc) -> Option<Value> {
        self.ix.group.get(id).map(|&i| self.group(&self.mis.groups[i], inc))
    }

    /// The student with Wonde id `id`, or `None` for one the index does not
    /// know (a dangling reference is left out of an include, not an error).
    fn student_by_id(&self, id: &str, inc: &StudentInc) -> Option<Value> {
        self.ix.student.get(id).map(|&i| self.student(&self.mis.students[i], inc))
    }

    /// The employee with Wonde id `id`, as [`Self::student_by_id`].
    fn employee_by_id(&self, id: &str, inc: &EmployeeInc) -> Option<Value> {
        self.ix.employee.get(id).map(|&i| self.employee(&self.mis.employees[i], inc))
    }

    /// The contact with Wonde id `id`, as [`Self::student_by_id`].
    fn contact_by_id(&self, id: &str, inc: &ContactInc) -> Option<Value> {
        self.ix.contact.get(id).map(|&i| self.contact(&self.mis.contacts[i], inc))
    }

    pub fn group(&self, g: &Group, inc: &GroupInc) -> Value {
        let mut o = json!({
            "id": g.id,
            "mis_id": g.mis_id,
            "name": g.name,
            "code": g.code,
            "type": g.kind.as_str(),
            "description": g.description,
            "notes": null,
            "division": null,
            "restored_at": null,
            "created_at": datetime(&g.created_at),
            "updated_at": datetime(&g.updated_at),
        });
        let Some(m) = o.as_object_mut() else { return o };
        if let Some(si) = &inc.students {
            let students =
                positions(&self.ix.students_by_group, &g.id).map(|i| self.student(&self.mis.students[i], si));
            m.insert("students".into(), included(students));
        }
        if let Some(ei) = &inc.employees {
            let employees = g.employee_ids.iter().filter_map(|id| self.employee_by_id(id, ei));
            m.insert("employees".into(), included(employees));
        }
        o
    }
}

/// An included to-many relation: `{"data": [...]}`.
fn included(records: impl Iterator<Item = Value>) -> Value {
    json!({ "data": records.collect::<Vec<_>>() })
}

/// `record` with the pivot it was reached through under `key`
/// (`relationship`, `meta`), as Wonde nests it.
fn with_pivot(mut record: Value, key: &str, pivot: Value) -> Value {
    if let Some(m) = record.as_object_mut() {
        m.insert(key.into(), pivot);
    }
    record
}

/// The positions an index lists under `id`; none when it lists nothing.
fn positions<'a>(by_id: &'a HashMap<String, Vec<usize>>, id: &str) -> impl Iterator<Item = usize> + 'a {
    by_id.get(id).into_iter().flatten().copied()
}

fn teaching_meta(main: bool, role: &str) -> Value {
    let mut roles = vec![role.to_owned()];
    if main {
        roles.push("Class Teacher".to_owned());
    }
    json!({
        "is_main_teacher": main,
        "is_class_teacher": true,
        "role": role,
        "all_roles": roles,
    })
}

fn subject(s: &Subject) -> Value {
    json!({
        "id": s.id,
        "mis_id": s.mis_id,
        "code": s.code,
        "name": s.name,
        "active": true,
        "created_at": datetime(&s.created_at),
        "updated_at": datetime(&s.updated_at),
    })
}

fn contact_details(email: Option<&str>, phone: Option<&str>) -> Value {
    let address = json!({
        "house_number": null, "house_name": null, "apartment": null, "street": null,
        "district": null, "town": null, "county": null, "country": null, "postcode": null,
    });
    json!({
        "phones": { "phone": phone, "primary": phone, "home": null, "work": null, "mobile": phone },
        "emails": { "email": email, "primary": email, "home": null, "work": null },
        "addresses": { "home": address, "work": address, "postal": address },
        "salutation": null,
    })
}

pub(crate) fn deletion(d: &Deletion) -> Value {
    json!({
        "type": d.kind,
        "id": d.id,
        "mis_id": d.mis_id,
        "deleted_at": datetime(&d.deleted_at),
        "restored_at": opt_datetime(d.restored_at.as_ref()),
    })
}

/// The school object of `GET /schools/{id}` and the catalog lists.
pub(crate) fn school(s: &School, quirks: Quirks, api_base: &str) -> Value {
    let urn = if quirks.string_urn { Value::String(s.urn.to_string()) } else { Value::from(s.urn) };
    json!({
        "id": s.id,
        "name": s.name,
        "establishment_number": s.establishment_number,
        "urn": urn,
        "phase_of_education": s.phase_of_education,
        "la_code": s.la_code,
        "timezone": "Europe/London",
        "mis": s.mis,
        "address": {
            "address_line_1": s.address_line_1,
            "address_line_2": null,
            "address_town": s.town,
            "address_postcode": s.postcode,
            "address_country": { "code": "GBR", "name": "England" },
        },
        "extended": {
            "allows_writeback": false,
            "has_timetables": false,
            "has_lesson_attendance": false,
            "audit_approved_at": s.audit_approved_at.as_ref().map_or(Value::Null, datetime_seconds),
        },
        "region": {
            "code": "GBR",
            "domain": "api.wonde.com",
            "school_url": format!("{api_base}/schools/{}", s.id),
            "identifiers": {
                "la_code": s.la_code,
                "establishment_number": s.establishment_number,
                "urn": s.urn,
            },
        },
        "created_at": datetime(&s.created_at),
        "updated_at": datetime(&s.updated_at),
    })
}

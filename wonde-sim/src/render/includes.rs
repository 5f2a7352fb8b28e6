//! Which relations to embed in a record, resolved once per request from the
//! include set, and the includes each endpoint advertises.

use crate::query::Includes;

#[derive(Default)]
pub(crate) struct StudentInc {
    pub(super) education_details: bool,
    pub(super) year: bool,
    pub(super) registration: bool,
    pub(super) contact_details: bool,
    pub(super) contacts: Option<Box<ContactInc>>,
    pub(super) classes: Option<Box<ClassInc>>,
}

#[derive(Default)]
pub(crate) struct ContactInc {
    pub(super) contact_details: bool,
    pub(super) students: Option<Box<StudentInc>>,
}

#[derive(Default)]
pub(crate) struct EmployeeInc {
    pub(super) employment_details: bool,
    pub(super) contact_details: bool,
    pub(super) classes: Option<Box<ClassInc>>,
}

#[derive(Default)]
pub(crate) struct ClassInc {
    pub(super) subject: bool,
    pub(super) students: Option<Box<StudentInc>>,
    pub(super) employees: Option<Box<EmployeeInc>>,
}

#[derive(Default)]
pub(crate) struct GroupInc {
    pub(super) students: Option<Box<StudentInc>>,
    pub(super) employees: Option<Box<EmployeeInc>>,
}

fn nested<T>(inc: &Includes, name: &str, build: fn(&Includes) -> T) -> Option<Box<T>> {
    inc.has(name).then(|| Box::new(build(&inc.sub(name))))
}

impl StudentInc {
    pub fn from(inc: &Includes) -> Self {
        StudentInc {
            education_details: inc.has("education_details"),
            year: inc.has("year"),
            registration: inc.has("registration"),
            contact_details: inc.has("contact_details"),
            contacts: nested(inc, "contacts", ContactInc::from),
            classes: nested(inc, "classes", ClassInc::from),
        }
    }
}

impl ContactInc {
    pub fn from(inc: &Includes) -> Self {
        ContactInc {
            contact_details: inc.has("contact_details"),
            students: nested(inc, "students", StudentInc::from),
        }
    }
}

impl EmployeeInc {
    pub fn from(inc: &Includes) -> Self {
        EmployeeInc {
            employment_details: inc.has("employment_details"),
            contact_details: inc.has("contact_details"),
            classes: nested(inc, "classes", ClassInc::from),
        }
    }
}

impl ClassInc {
    pub fn from(inc: &Includes) -> Self {
        ClassInc {
            subject: inc.has("subject"),
            students: nested(inc, "students", StudentInc::from),
            employees: nested(inc, "employees", EmployeeInc::from),
        }
    }
}

impl GroupInc {
    pub fn from(inc: &Includes) -> Self {
        GroupInc {
            students: nested(inc, "students", StudentInc::from),
            employees: nested(inc, "employees", EmployeeInc::from),
        }
    }
}

/// The includes each endpoint advertises in `meta.includes` (what is
/// available, not what was asked, as Wonde does).
pub(crate) fn available_includes(collection: &str) -> &'static [&'static str] {
    match collection {
        "students" | "students-leaver" => &[
            "classes",
            "classes.employees",
            "classes.subject",
            "contact_details",
            "contacts",
            "contacts.contact_details",
            "education_details",
            "registration",
            "year",
        ],
        "employees" => &["classes", "classes.subject", "contact_details", "employment_details"],
        "contacts" => &["contact_details", "students", "students.education_details"],
        "classes" => &[
            "employees",
            "employees.contact_details",
            "employees.employment_details",
            "students",
            "students.education_details",
            "students.registration",
            "students.year",
            "subject",
        ],
        "groups" => &["employees", "students"],
        "school" => &["cbds"],
        _ => &[],
    }
}

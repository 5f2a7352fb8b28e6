//! Classes (with the teacher pivot and subject) and groups (year groups and
//! forms) on the wire.

use serde::{Deserialize, Serialize};

use super::people::{WondeEmployee, WondeStudent};
use crate::wonde::lenient::{self, Relation, RelationList};

wonde_record! {
    /// The class–employee pivot (`meta`).
    #[derive(Clone, Debug, Default, Deserialize)]
    pub struct WondeClassPivot {
        pub is_main_teacher: Option<bool>,
        pub is_class_teacher: Option<bool>,
        pub role: Option<String>,
        pub all_roles: Vec<String>,
    }
}

wonde_record! {
    #[derive(Clone, Debug, Deserialize)]
    pub struct WondeClass {
        #[serde(deserialize_with = "lenient::id")]
        pub id: String,
        pub mis_id: Option<String>,
        pub name: Option<String>,
        pub code: Option<String>,
        pub description: Option<String>,
        #[serde(default)]
        pub subject: Relation<WondeSubject>,
        ..dated,
        /// The pivot, when nested under an employee; null when fetched directly.
        #[serde(default, deserialize_with = "lenient::object")]
        pub meta: Option<WondeClassPivot>,
        /// Teachers, each with its `meta` pivot.
        #[serde(default)]
        pub employees: RelationList<WondeEmployee>,
        #[serde(default)]
        pub students: RelationList<WondeStudent>,
    }
}

wonde_record! {
    #[derive(Clone, Debug, Deserialize)]
    pub struct WondeSubject {
        #[serde(deserialize_with = "lenient::id")]
        pub id: String,
        pub code: Option<String>,
        pub name: Option<String>,
    }
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

wonde_record! {
    #[derive(Clone, Debug, Deserialize)]
    pub struct WondeGroup {
        #[serde(deserialize_with = "lenient::id")]
        pub id: String,
        pub mis_id: Option<String>,
        pub name: Option<String>,
        pub code: Option<String>,
        /// `YEAR`, `REGISTRATION`, `HOUSE`...; as sent.
        #[serde(default, rename = "type", deserialize_with = "lenient::string")]
        pub group_type: Option<String>,
        pub description: Option<String>,
        ..dated,
        #[serde(default)]
        pub students: RelationList<WondeStudent>,
        /// Tutors (forms) or heads of year.
        #[serde(default)]
        pub employees: RelationList<WondeEmployee>,
    }
}

impl WondeGroup {
    pub fn is_type(&self, t: GroupType) -> bool {
        self.group_type.as_deref().is_some_and(|g| g.trim().eq_ignore_ascii_case(t.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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

//! Families across a trust's schools.
//!
//! A guardian has one record per school; records with the same email
//! (trimmed, case-folded) are one person, unless the email cannot name one
//! person: an obvious placeholder ([`is_placeholder_email`]), or an email
//! whose holders' names disagree ([`names_agree`]), such as a school
//! office's own address typed in for many parents. Such an email joins
//! nobody (a data-quality finding for the school instead). A child has one
//! record per school; records with the same valid UPN are one child (a
//! value that is not a UPN joins nobody: [`crate::upn`]; nor does a UPN
//! whose holders cannot be one child, two on roll at one school at once
//! or two names anywhere in the trust: [`ambiguous_upns`]).
//! A family is a
//! connected set of guardians and children joined by active guardian links
//! and by those two identities. Its key is its smallest guardian id: stable
//! while the family keeps that guardian, and cheap to page by.
//!
//! A page of families and a family by id read only those families
//! ([`reach`]: from the people outwards, a few statements per step of the
//! family, whatever the trust's size). The whole index
//! ([`FamilyIndex::build`], three statements over the viewer's schools,
//! once per request) serves `totalCount`, which counts every family, and
//! the `family` fields of students and guardians, whose statements stay
//! fixed by the query's shape that way.

use entity::enums::AccountStatus;
use entity::{guardian, guardian_link, student};
use sea_orm::{ColumnTrait, DatabaseConnection, QueryFilter, QuerySelect};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::OnceCell;

use crate::auth::Viewer;
use crate::error::AppError;

mod identity;
mod reach;
pub use identity::{
    ambiguous_upn_holders, ambiguous_upns, email_key, is_placeholder_email, name_key, names_agree, upn_key,
};
pub(crate) use reach::holders_of_upns;
pub use reach::{linked_guardians, reach};

/// The records of one family, each list in id order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyMembers {
    pub key: i32,
    pub guardian_ids: Vec<i32>,
    pub student_ids: Vec<i32>,
    pub school_ids: Vec<i32>,
}

/// Every family visible to a viewer.
#[derive(Debug, Default)]
pub struct FamilyIndex {
    families: BTreeMap<i32, Arc<FamilyMembers>>,
    by_guardian: HashMap<i32, i32>,
    by_student: HashMap<i32, i32>,
}

/// A student row as the index needs it: id, school, UPN, then status,
/// forename and surname (whether records of one school holding one UPN
/// can be one child: [`ambiguous_upns`]).
pub type IdentityRow = (i32, i32, Option<String>, AccountStatus, String, String);

/// The columns a student's [`IdentityRow`] is selected from, in its order.
pub const STUDENT_ROW_COLUMNS: [student::Column; 6] = [
    student::Column::Id,
    student::Column::SchoolId,
    student::Column::Upn,
    student::Column::Status,
    student::Column::Forename,
    student::Column::Surname,
];

/// A guardian row as the index needs it: id, school, email key, forename,
/// surname.
pub type GuardianRow = (i32, i32, Option<String>, String, String);

/// The columns a [`GuardianRow`] is selected from, in its order.
pub const GUARDIAN_ROW_COLUMNS: [guardian::Column; 5] = [
    guardian::Column::Id,
    guardian::Column::SchoolId,
    guardian::Column::EmailKey,
    guardian::Column::Forename,
    guardian::Column::Surname,
];

impl FamilyIndex {
    pub async fn build(db: &DatabaseConnection, viewer: &Viewer) -> Result<Self, AppError> {
        let links: Vec<(i32, i32)> = viewer
            .guardian_links()
            .select_only()
            .columns([guardian_link::Column::StudentId, guardian_link::Column::GuardianId])
            .filter(guardian_link::Column::Active.eq(true))
            .into_tuple()
            .all(db)
            .await?;
        let guardians: Vec<GuardianRow> =
            viewer.guardians().select_only().columns(GUARDIAN_ROW_COLUMNS).into_tuple().all(db).await?;
        let students: Vec<IdentityRow> =
            viewer.students().select_only().columns(STUDENT_ROW_COLUMNS).into_tuple().all(db).await?;
        Ok(Self::from_rows(&links, &guardians, &students))
    }

    /// The pure part of [`FamilyIndex::build`]: union-find over the rows.
    pub fn from_rows(links: &[(i32, i32)], guardians: &[GuardianRow], students: &[IdentityRow]) -> Self {
        let linked_guardians: BTreeSet<i32> = links.iter().map(|(_, g)| *g).collect();
        let linked_students: BTreeSet<i32> = links.iter().map(|(s, _)| *s).collect();
        let linked: Vec<&GuardianRow> =
            guardians.iter().filter(|(id, ..)| linked_guardians.contains(id)).collect();
        let joining = joining_emails(&linked);

        let mut nodes = Nodes::default();
        let mut by_email: HashMap<String, usize> = HashMap::new();
        for (id, school, email, ..) in linked {
            let node = nodes.add(Person::Guardian(*id), *school);
            let key = email.as_deref().and_then(email_key).filter(|key| joining.contains(key));
            if let Some(key) = key {
                match by_email.get(&key) {
                    Some(&other) => nodes.union(node, other),
                    None => {
                        by_email.insert(key, node);
                    }
                }
            }
        }
        let ambiguous = ambiguous_upns(students);
        let joining_upn =
            |upn: &Option<String>| upn.as_deref().and_then(upn_key).filter(|key| !ambiguous.contains(key));
        let linked_upns: BTreeSet<String> = students
            .iter()
            .filter(|(id, ..)| linked_students.contains(id))
            .filter_map(|(_, _, upn, ..)| joining_upn(upn))
            .collect();
        let mut by_upn: HashMap<String, usize> = HashMap::new();
        for (id, school, upn, ..) in students {
            let upn = joining_upn(upn);
            let twin_of_linked = upn.as_ref().is_some_and(|u| linked_upns.contains(u));
            if !linked_students.contains(id) && !twin_of_linked {
                continue;
            }
            let node = nodes.add(Person::Student(*id), *school);
            if let Some(key) = upn {
                match by_upn.get(&key) {
                    Some(&other) => nodes.union(node, other),
                    None => {
                        by_upn.insert(key, node);
                    }
                }
            }
        }
        for (student, guardian) in links {
            if let (Some(&s), Some(&g)) =
                (nodes.index.get(&Person::Student(*student)), nodes.index.get(&Person::Guardian(*guardian)))
            {
                nodes.union(s, g);
            }
        }
        nodes.into_index()
    }

    pub fn get(&self, key: i32) -> Option<Arc<FamilyMembers>> {
        self.families.get(&key).cloned()
    }

    pub fn of_guardian(&self, guardian_id: i32) -> Option<Arc<FamilyMembers>> {
        self.by_guardian.get(&guardian_id).and_then(|key| self.get(*key))
    }

    pub fn of_student(&self, student_id: i32) -> Option<Arc<FamilyMembers>> {
        self.by_student.get(&student_id).and_then(|key| self.get(*key))
    }

    /// Families in key order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<FamilyMembers>> {
        self.families.values()
    }
}

/// The emails that may join these guardians: not placeholders, and held
/// only by guardians whose names agree. Judged among the guardians that
/// would be joined (those with an active link), in the viewer's scope.
fn joining_emails(guardians: &[&GuardianRow]) -> BTreeSet<String> {
    let mut holders: HashMap<String, Vec<(&str, &str)>> = HashMap::new();
    for (_, _, email, forename, surname) in guardians {
        if let Some(key) = email.as_deref().and_then(email_key) {
            holders.entry(key).or_default().push((forename, surname));
        }
    }
    holders
        .into_iter()
        .filter(|(key, names)| !is_placeholder_email(key) && names_agree(names.iter().copied()))
        .map(|(key, _)| key)
        .collect()
}

/// The families of one request: the whole index built on first use, or
/// the families of a few people.
pub struct FamilySource {
    db: DatabaseConnection,
    viewer: Viewer,
    index: OnceCell<Arc<FamilyIndex>>,
}

impl FamilySource {
    pub fn new(db: DatabaseConnection, viewer: Viewer) -> Self {
        Self { db, viewer, index: OnceCell::new() }
    }

    /// The families of these guardians and students (see [`reach`]).
    pub async fn of(&self, guardians: &[i32], students: &[i32]) -> Result<FamilyIndex, AppError> {
        reach(&self.db, &self.viewer, guardians, students).await
    }

    /// Every family in the viewer's scope, built once per request.
    pub async fn index(&self) -> Result<Arc<FamilyIndex>, AppError> {
        self.index
            .get_or_try_init(|| async { FamilyIndex::build(&self.db, &self.viewer).await.map(Arc::new) })
            .await
            .cloned()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Person {
    Guardian(i32),
    Student(i32),
}

/// Guardian, student and school ids of one component.
type Members = (BTreeSet<i32>, BTreeSet<i32>, BTreeSet<i32>);

#[derive(Default)]
struct Nodes {
    people: Vec<(Person, i32)>,
    parent: Vec<usize>,
    index: HashMap<Person, usize>,
}

impl Nodes {
    fn add(&mut self, person: Person, school: i32) -> usize {
        if let Some(&existing) = self.index.get(&person) {
            return existing;
        }
        let node = self.people.len();
        self.people.push((person, school));
        self.parent.push(node);
        self.index.insert(person, node);
        node
    }

    fn find(&mut self, mut node: usize) -> usize {
        while self.parent[node] != node {
            self.parent[node] = self.parent[self.parent[node]];
            node = self.parent[node];
        }
        node
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.parent[a.max(b)] = a.min(b);
        }
    }

    fn into_index(mut self) -> FamilyIndex {
        let mut groups: HashMap<usize, Members> = HashMap::new();
        for node in 0..self.people.len() {
            let root = self.find(node);
            let (person, school) = self.people[node];
            let group = groups.entry(root).or_default();
            match person {
                Person::Guardian(id) => group.0.insert(id),
                Person::Student(id) => group.1.insert(id),
            };
            group.2.insert(school);
        }
        let mut index = FamilyIndex::default();
        for (guardians, students, schools) in groups.into_values() {
            // A family needs a guardian: children with none are no family.
            let Some(&key) = guardians.first() else { continue };
            for id in &guardians {
                index.by_guardian.insert(*id, key);
            }
            for id in &students {
                index.by_student.insert(*id, key);
            }
            index.families.insert(
                key,
                Arc::new(FamilyMembers {
                    key,
                    guardian_ids: guardians.into_iter().collect(),
                    student_ids: students.into_iter().collect(),
                    school_ids: schools.into_iter().collect(),
                }),
            );
        }
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i32, school: i32, key: &str) -> IdentityRow {
        named(id, school, key, AccountStatus::Active, "Amy")
    }

    fn named(id: i32, school: i32, key: &str, status: AccountStatus, forename: &str) -> IdentityRow {
        (id, school, Some(key.to_owned()), status, forename.to_owned(), "Kay".to_owned())
    }

    fn guardian(id: i32, school: i32, key: &str, forename: &str, surname: &str) -> GuardianRow {
        (id, school, Some(key.to_owned()), forename.to_owned(), surname.to_owned())
    }

    #[test]
    fn a_value_that_is_not_a_upn_joins_no_children() {
        // Two children at two schools whose MIS hold the placeholder
        // "UNKNOWN", and two with one slip of the same real UPN: four
        // families, not two.
        let links = [(10, 1), (20, 2), (11, 3), (21, 4)];
        let guardians = [
            guardian(1, 1, "ann@x.org", "Ann", "Smith"),
            guardian(2, 2, "bob@y.org", "Bob", "Brown"),
            guardian(3, 1, "cat@z.org", "Cat", "Lee"),
            guardian(4, 2, "dev@w.org", "Dev", "Patel"),
        ];
        let students = [
            row(10, 1, "UNKNOWN"),
            row(20, 2, "unknown"),
            row(11, 1, "Q207000016049"),
            row(21, 2, "Q207000016049"),
        ];
        let index = FamilyIndex::from_rows(&links, &guardians, &students);
        assert_eq!(index.iter().count(), 4);
        assert_eq!(index.of_student(10).map(|f| f.student_ids.clone()), Some(vec![10]));
        assert_eq!(index.of_student(11).map(|f| f.student_ids.clone()), Some(vec![11]));
    }

    #[test]
    fn a_upn_two_active_pupils_of_one_school_hold_joins_nobody() {
        let upn = "P207000016049";
        let leaver = named(12, 1, upn, AccountStatus::Deactivated, "amy");
        // One active pupil and a leaver of school 1 (a child re-admitted),
        // and the child's record at school 2: one child.
        let students = [row(10, 1, upn), leaver.clone(), row(20, 2, upn)];
        assert!(ambiguous_upns(&students).is_empty());
        let links = [(10, 1), (20, 2)];
        let guardians =
            [guardian(1, 1, "ann@x.org", "Ann", "Smith"), guardian(2, 2, "bob@y.org", "Bob", "Brown")];
        let index = FamilyIndex::from_rows(&links, &guardians, &students);
        assert_eq!(index.of_student(20).map(|f| f.student_ids.clone()), Some(vec![10, 12, 20]));
        // A second active pupil of school 1 holds it: nobody joins by it.
        let students = [row(10, 1, upn), row(11, 1, &upn.to_lowercase()), leaver, row(20, 2, upn)];
        assert_eq!(ambiguous_upns(&students), BTreeSet::from([upn.to_owned()]));
        let links = [(10, 1), (11, 3), (20, 2)];
        let guardians = [
            guardian(1, 1, "ann@x.org", "Ann", "Smith"),
            guardian(2, 2, "bob@y.org", "Bob", "Brown"),
            guardian(3, 1, "cat@z.org", "Cat", "Lee"),
        ];
        let index = FamilyIndex::from_rows(&links, &guardians, &students);
        assert_eq!(index.iter().count(), 3);
        assert_eq!(index.of_student(20).map(|f| f.guardian_ids.clone()), Some(vec![2]));
    }

    #[test]
    fn a_upn_a_leaver_holds_under_another_name_joins_nobody() {
        // A sibling's UPN copied onto a new pupil after the sibling left,
        // and two leavers of one school holding one UPN under two names:
        // neither can be one child, whatever their status.
        let upn = "P207000016049";
        let copied = [named(12, 1, upn, AccountStatus::Deactivated, "Lee"), row(10, 1, upn), row(20, 2, upn)];
        assert_eq!(ambiguous_upns(&copied), BTreeSet::from([upn.to_owned()]));
        let links = [(10, 1), (12, 3), (20, 2)];
        let guardians = [
            guardian(1, 1, "ann@x.org", "Ann", "Smith"),
            guardian(2, 2, "bob@y.org", "Bob", "Brown"),
            guardian(3, 1, "cat@z.org", "Cat", "Lee"),
        ];
        let index = FamilyIndex::from_rows(&links, &guardians, &copied);
        assert_eq!(index.iter().count(), 3);
        let left = [
            named(12, 1, upn, AccountStatus::Deactivated, "Lee"),
            named(13, 1, upn, AccountStatus::Deactivated, "Amy"),
        ];
        assert_eq!(ambiguous_upns(&left), BTreeSet::from([upn.to_owned()]));
        // Another name at another school: a copy too.
        let across = [row(10, 1, upn), named(20, 2, upn, AccountStatus::Active, "Eli")];
        assert_eq!(ambiguous_upns(&across), BTreeSet::from([upn.to_owned()]));
        // Two leavers of one name: one child who left twice.
        let twice = [
            named(12, 1, upn, AccountStatus::Deactivated, "Amy"),
            named(13, 1, upn, AccountStatus::Deactivated, " AMY "),
        ];
        assert!(ambiguous_upns(&twice).is_empty());
    }

    #[test]
    fn guardians_join_by_email_across_schools_and_children_by_upn() {
        // School 1: guardian 1 (Ann) with child 10. School 2: guardian 2
        // (" ANN@x.org ") with child 20; child 21 at school 2 shares child
        // 10's UPN. Guardian 3 at school 2 is someone else.
        let links = [(10, 1), (20, 2), (22, 3)];
        let guardians = [
            guardian(1, 1, "ann@x.org", "Ann", "Smith"),
            guardian(2, 2, " ANN@x.org ", " ann ", "SMITH"),
            guardian(3, 2, "bob@y.org", "Bob", "Brown"),
        ];
        let students = [
            row(10, 1, "P207000016049"),
            row(20, 2, "B801200005001"),
            row(21, 2, "p207000016049 "),
            row(22, 2, "U80000000000T"),
        ];
        let index = FamilyIndex::from_rows(&links, &guardians, &students);
        let ann = index.of_guardian(2).expect("Ann's family");
        assert_eq!(ann.key, 1);
        assert_eq!(ann.guardian_ids, vec![1, 2]);
        assert_eq!(ann.student_ids, vec![10, 20, 21]);
        assert_eq!(ann.school_ids, vec![1, 2]);
        let bob = index.of_student(22).expect("Bob's family");
        assert_eq!(bob.guardian_ids, vec![3]);
        assert_eq!(bob.school_ids, vec![2]);
        assert_eq!(index.iter().count(), 2);
    }

    #[test]
    fn ended_links_and_unlinked_children_make_no_family() {
        let guardians = [guardian(1, 1, "ann@x.org", "Ann", "Smith")];
        let students = [row(10, 1, "A1")];
        let index = FamilyIndex::from_rows(&[], &guardians, &students);
        assert_eq!(index.iter().count(), 0);
        assert!(index.of_student(10).is_none());
    }

    #[test]
    fn placeholders_and_emails_of_different_names_join_nobody() {
        // Guardians 1 and 2 share a placeholder; 3 and 4 share an address
        // with different names (the school office's); 5 and 6 are one
        // person whose forename one school did not record.
        let links = [(10, 1), (20, 2), (30, 3), (40, 4), (50, 5), (60, 6)];
        let guardians = [
            guardian(1, 1, "noemail@school.org", "Ann", "Smith"),
            guardian(2, 2, "NoEmail@School.org", "Ann", "Smith"),
            guardian(3, 1, "office@ash.sch.uk", "Cat", "Jones"),
            guardian(4, 2, "office@ash.sch.uk", "Dev", "Patel"),
            guardian(5, 1, "eve@x.org", "Eve", "Brown"),
            guardian(6, 2, "eve@x.org", "", "Brown"),
        ];
        let students = [
            row(10, 1, "A1"),
            row(20, 2, "B2"),
            row(30, 1, "C3"),
            row(40, 2, "D4"),
            row(50, 1, "E5"),
            row(60, 2, "F6"),
        ];
        let index = FamilyIndex::from_rows(&links, &guardians, &students);
        for id in 1..=4 {
            assert_eq!(index.of_guardian(id).map(|f| f.guardian_ids.clone()), Some(vec![id]), "{id}");
        }
        assert_eq!(index.of_guardian(6).map(|f| f.guardian_ids.clone()), Some(vec![5, 6]));
        assert_eq!(index.iter().count(), 5);
    }
}

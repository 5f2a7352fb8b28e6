//! What a source (Wonde or CSV) reports about one school, in the shape
//! the reconciliation needs. Sources translate into these records; the
//! rules of product.md then apply the same way whatever the source.

use chrono::NaiveDate;
use entity::{class_student, class_teacher, form_student, form_tutor, year_student};
use sea_orm::EntityName;
use std::collections::HashSet;

/// An email address as the directory keeps, answers, searches and sends
/// it: whitespace around it (spaces, tabs, line breaks, no-break spaces)
/// and invisible format characters pasted with it (zero-width spaces and
/// joiners, a byte-order mark) are removed and its case kept as the MIS or
/// file gave it; a blank address is none. Every source's people pass
/// through here (Wonde in `wonde_source`, CSV in `csv_source`), so stray
/// characters never reach the database; the family rule folds case on top
/// (`families::email_key`).
pub fn clean_email(raw: Option<&str>) -> Option<String> {
    raw.map(|email| email.trim_matches(|c: char| c.is_whitespace() || is_invisible(c)))
        .filter(|email| !email.is_empty())
        .map(str::to_owned)
}

/// Characters that print as nothing: zero-width space, non-joiner, joiner,
/// word joiner, and the byte-order mark spreadsheets put first in a file.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Which data types a batch speaks for: a Wonde school's connection
/// options; for a CSV import, the files given and, for groups, the group
/// columns they have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataTypes {
    pub students: bool,
    pub staff: bool,
    pub guardians: bool,
    pub classes: bool,
    pub year_groups: bool,
    pub form_groups: bool,
}

impl DataTypes {
    pub const ALL: Self = Self {
        students: true,
        staff: true,
        guardians: true,
        classes: true,
        year_groups: true,
        form_groups: true,
    };
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MisStudent {
    pub source_id: String,
    pub upi: Option<String>,
    pub mis_id: Option<String>,
    pub upn: Option<String>,
    pub forename: String,
    pub surname: String,
    pub email: Option<String>,
    /// A leaving date on or before today makes the student a leaver.
    pub leaving_date: Option<NaiveDate>,
    /// Suspended or archived in the MIS: not imported, deactivated if known.
    pub inactive_in_mis: bool,
    /// The student's year and form group as its own record states them;
    /// with `groups_stated`, an incremental batch moves the student to
    /// exactly these (a complete batch reads membership from the groups).
    pub year: Option<String>,
    pub form: Option<String>,
    pub groups_stated: bool,
    /// The student's classes as its own record lists them (Wonde
    /// `students?include=classes`, asked for by incremental runs); `None`
    /// when the record did not list them. An incremental batch puts the
    /// student in these (it never ends a class by its absence here: the
    /// class lists do that), so a pupil who comes back (a leaving date
    /// corrected) gets every class back in the run that reactivates them,
    /// not only the classes whose own lists changed.
    pub classes: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MisStaff {
    pub source_id: String,
    pub upi: Option<String>,
    pub mis_id: Option<String>,
    pub title: Option<String>,
    pub forename: String,
    pub surname: String,
    pub email: Option<String>,
    /// Employment current and not ended: false makes a staff leaver.
    pub current: bool,
    /// The last day of employment, when the MIS gives one. Stored, so that
    /// the day after it the account is deactivated without a record change.
    pub employment_end: Option<NaiveDate>,
    pub inactive_in_mis: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MisGuardian {
    pub source_id: String,
    pub upi: Option<String>,
    pub mis_id: Option<String>,
    pub title: Option<String>,
    pub forename: String,
    pub surname: String,
    pub email: Option<String>,
    pub inactive_in_mis: bool,
}

/// A student-guardian link as the MIS gives it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MisLink {
    pub student: String,
    pub guardian: String,
    /// The MIS's own words ("Mother", "Step-father", "Aunt").
    pub relationship_label: Option<String>,
    pub parental_responsibility: Option<bool>,
    pub lives_with_student: Option<bool>,
    pub priority: Option<i32>,
}

/// A year group, form group or class with its current members.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MisGroup {
    pub source_id: String,
    pub name: String,
    pub code: Option<String>,
    pub subject: Option<String>,
    /// Source ids of member students.
    pub students: Vec<String>,
    /// Source ids of teachers (classes) or tutors (forms).
    pub staff: Vec<String>,
}

/// A record the source says was deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MisDeletion {
    pub kind: DeletedKind,
    pub source_id: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeletedKind {
    Student,
    Staff,
    Guardian,
    Class,
    Group,
}

/// Who a batch's group lists speak for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Memberships {
    /// A group present lists all its members (Wonde: a group is one record
    /// with its members). Its other members leave it.
    #[default]
    ByGroup,
    /// A student or staff member present is listed in exactly its groups,
    /// and a group's other members keep their place (CSV: groups are derived
    /// from members' rows, so a file of some members says nothing of the
    /// rest). A complete batch ends an absent group only when it speaks for
    /// every kind of member the group can have.
    ByMember,
}

/// Which guardian links an incremental batch speaks for (a complete batch
/// whose absences are evidence speaks for every link, whatever this says).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LinkScope {
    /// A student present carries all its links (Wonde: a student record
    /// lists its contacts), so its links the batch omits end.
    #[default]
    ByStudent,
    /// Only the links the batch lists (CSV: a partial guardians file is the
    /// rows someone chose to send, and a student row says nothing of that
    /// student's guardians): they are made or updated, and no other link
    /// ends, except by the leaver cascade or the guardian's own removal.
    /// Safeguarding: a link is never ended by a file that does not name it.
    ByLink,
}

/// Everything one run learned about a school.
///
/// With `complete`, the batch is the whole MIS for the types it covers: an
/// account absent from it is gone (REMOVED_FROM_MIS). Without, it holds only
/// what changed: records present are upserted, and the groups and students
/// present have their memberships replaced, and their links as
/// [`LinkScope`] says.
#[derive(Clone, Debug)]
pub struct Batch {
    pub complete: bool,
    pub types: DataTypes,
    pub memberships: Memberships,
    pub link_scope: LinkScope,
    pub students: Vec<MisStudent>,
    pub staff: Vec<MisStaff>,
    pub guardians: Vec<MisGuardian>,
    pub links: Vec<MisLink>,
    pub year_groups: Vec<MisGroup>,
    pub form_groups: Vec<MisGroup>,
    pub classes: Vec<MisGroup>,
    /// Students on the source's leavers list.
    pub leavers: Vec<MisStudent>,
    pub deletions: Vec<MisDeletion>,
    /// Records the source sent more than once in one fetch (offset paging
    /// repeats a row when rows move between pages): each was taken once,
    /// and the repeat is recorded here for the run's warnings and the
    /// school's data-quality findings.
    pub duplicates: Vec<DroppedDuplicate>,
    /// Fetches whose pages ended before they said they would (a page the
    /// previous one linked to came back empty, or one saying more records
    /// follow without a link to them): like a repeat, such a
    /// listing may have missed records, so nobody absent from it is taken
    /// for gone, and the run is no baseline for the next INCREMENTAL one.
    pub cut_short: Vec<CutShort>,
    /// Records a fetch could not read (a malformed field), left out and
    /// left as stored: nobody missing from that fetch is taken for gone,
    /// and the run is no baseline, as for [`Batch::cut_short`].
    pub unreadable: Vec<UnreadableRecord>,
    /// Students (source ids) whose record did not state their contacts in
    /// full (the include absent, or contacts as bare ids): their stored
    /// links stay as they are. A trial saw such a record end both of a
    /// pupil's links and deactivate the parents (NO_ACTIVE_CHILDREN).
    pub links_unstated: Vec<String>,
    /// Groups (source ids) whose record did not include its pupils, and
    /// those whose record did not include its staff: their stored
    /// memberships of that side stay as they are (a trial saw a form's
    /// record without its `students` end all 12 memberships, and take 18
    /// parents out of the form's parent group).
    pub group_pupils_unstated: HashSet<String>,
    pub group_staff_unstated: HashSet<String>,
    /// What the fetch says about the run itself (an INCREMENTAL run that
    /// read the whole school), first among its warnings.
    pub notices: Vec<String>,
    /// Columns of existing accounts, and membership tables, the source says
    /// nothing about: a CSV file without a `upn` column keeps the stored
    /// UPNs, where a blank `upn` cell clears one; one without `classes`
    /// keeps its people's classes. Wonde always states every field and
    /// list, so its batches leave these empty.
    pub unstated: Unstated,
}

/// What a batch does not state: account columns per account table, and
/// whole membership tables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unstated {
    pub students: HashSet<&'static str>,
    pub staff: HashSet<&'static str>,
    pub guardians: HashSet<&'static str>,
    /// Membership tables, by table name (`year_student`, `form_student`,
    /// `form_tutor`, `class_student`, `class_teacher`), that the batch
    /// says nothing of: a students.csv without a `classes` column keeps
    /// every pupil in the classes stored, and no class it would empty of
    /// pupils ends for want of them. Memberships of leavers and of ended
    /// groups still end. Only [`Memberships::ByMember`] batches use it.
    pub memberships: HashSet<&'static str>,
}

impl Unstated {
    /// Whether the batch speaks for the rows of the membership table named
    /// `table`.
    pub fn states(&self, table: &str) -> bool {
        !self.memberships.contains(table)
    }

    /// Per group kind (year groups, forms, classes): whether the batch
    /// speaks for any of its membership tables. A kind it speaks for in
    /// none is not synced (its groups stay as stored).
    pub fn group_kinds_stated(&self) -> [bool; 3] {
        let any = |tables: &[&str]| tables.iter().any(|table| self.states(table));
        [
            any(&[year_student::Entity.table_name()]),
            any(&[form_student::Entity.table_name(), form_tutor::Entity.table_name()]),
            any(&[class_student::Entity.table_name(), class_teacher::Entity.table_name()]),
        ]
    }
}

/// The names a Wonde batch gives its listings (its fetches), as its
/// warnings, progress and notes ([`DroppedDuplicate`], [`CutShort`],
/// [`UnreadableRecord`]) name them; what judges a listing's absences asks
/// by these.
pub mod listing {
    pub const DELETIONS: &str = "deletions";
    pub const STUDENTS: &str = "students";
    pub const LEAVERS: &str = "leavers";
    pub const STAFF: &str = "staff";
    pub const GUARDIANS: &str = "guardians";
    pub const CLASSES: &str = "classes";
    pub const YEAR_GROUPS: &str = "year groups";
    pub const FORM_GROUPS: &str = "form groups";
}

/// A record seen again in one fetch, and dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DroppedDuplicate {
    /// The endpoint's name as the run reports it (`students`, `contacts`...).
    pub endpoint: String,
    pub source_id: String,
}

/// A fetch that ended at page `page` before its announced end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CutShort {
    /// The endpoint's name as the run reports it (`students`, `contacts`...).
    pub endpoint: String,
    pub page: u32,
    pub why: CutShortBy,
}

/// How a listing ended before its announced end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutShortBy {
    /// The page came back empty although the page before it linked to it.
    EmptyPromisedPage,
    /// The page said more records follow (`more: true`) but linked to none.
    MoreWithoutLink,
}

/// A record of page `page` of a fetch that could not be read: its Wonde
/// id when that much could be read, the field and why (no values: they
/// may be names or emails).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreadableRecord {
    /// The endpoint's name as the run reports it (`students`, `contacts`...).
    pub endpoint: String,
    pub page: u32,
    pub what: crate::wonde::Unreadable,
}

/// The most warnings a run keeps; the rest are counted in a last one.
const MAX_WARNINGS: usize = 100;

impl Batch {
    /// Whether an account absent from this batch is gone from the MIS. Only
    /// a complete batch says so, and only when no record came twice: offset
    /// paging that repeats a row (rows moved between two page requests) has
    /// also skipped one, so the absent may simply have been missed. Such a
    /// run applies everything else; the next run judges absences again.
    pub fn absence_is_evidence(&self) -> bool {
        self.complete && self.is_whole()
    }

    /// Whether every fetch is known to have been read whole: no record came
    /// twice, none could not be read, and no listing was cut short. Only
    /// such a batch moves Wonde's
    /// watermark: changes a fetch may have missed are asked for again.
    pub fn is_whole(&self) -> bool {
        self.duplicates.is_empty() && self.cut_short.is_empty() && self.unreadable.is_empty()
    }

    /// The same, for what the named fetches alone speak for (a group
    /// kind's own endpoint, the members' endpoint): a repeat in one fetch
    /// says nothing about another's pages.
    pub fn absence_is_evidence_in(&self, endpoints: &[&str]) -> bool {
        self.complete
            && !self.duplicates.iter().any(|d| endpoints.contains(&d.endpoint.as_str()))
            && !self.cut_short.iter().any(|c| endpoints.contains(&c.endpoint.as_str()))
            && !self.unreadable.iter().any(|u| endpoints.contains(&u.endpoint.as_str()))
    }

    /// What the run should say it worked around, as sentences for an
    /// administrator (Wonde ids only, never names), in this order: the
    /// fetch's notices; one per listing cut short; one per record that
    /// could not be read (at most [`MAX_WARNINGS`]); one for the pupils
    /// whose contacts were not listed in full; one per repeated record, in
    /// fetch order (at most [`MAX_WARNINGS`], and a count of the rest).
    pub fn warnings(&self) -> Vec<String> {
        let short = self.cut_short.iter().map(|c| {
            let what = match c.why {
                CutShortBy::EmptyPromisedPage => "came back empty although the page before it said more records follow",
                CutShortBy::MoreWithoutLink => "said more records follow but gave no link to them",
            };
            format!(
                "{}: page {} {what}; nobody missing from this fetch was taken for gone, and the next run asks again",
                c.endpoint, c.page
            )
        });
        let unread = self.unreadable.iter().take(MAX_WARNINGS).map(|u| {
            let record =
                u.what.record.as_deref().map_or_else(|| "without a readable id".to_owned(), str::to_owned);
            format!(
                "{} page {}: record {record} could not be read ({}: {}) and was left as it was; \
                 nobody missing from this fetch was taken for gone, and the next run asks again",
                u.endpoint, u.page, u.what.field, u.what.detail
            )
        });
        let unstated = (!self.links_unstated.is_empty()).then(|| {
            format!(
                "students: {} records did not list their contacts in full (the include absent, or ids only); \
                 their links to parents were left as they were",
                self.links_unstated.len()
            )
        });
        let mut repeats: Vec<(&DroppedDuplicate, usize)> = Vec::new();
        for duplicate in &self.duplicates {
            match repeats.iter_mut().find(|(d, _)| *d == duplicate) {
                Some((_, n)) => *n += 1,
                None => repeats.push((duplicate, 1)),
            }
        }
        let mut out: Vec<String> = repeats
            .iter()
            .take(MAX_WARNINGS)
            .map(|(d, n)| {
                let times = if *n == 1 { "twice".to_owned() } else { format!("{} times", n + 1) };
                format!(
                    "{}: record {} appeared {times} in one fetch and was taken once",
                    d.endpoint, d.source_id
                )
            })
            .collect();
        if repeats.len() > MAX_WARNINGS {
            out.push(format!("and {} more records appeared more than once", repeats.len() - MAX_WARNINGS));
        }
        self.notices.iter().cloned().chain(short).chain(unread).chain(unstated).chain(out).collect()
    }

    /// Whether applying the batch may change a school's parent groups by
    /// what it holds: a complete batch, or one naming any pupil, leaver,
    /// guardian, link, group or deletion. A batch that names only staff
    /// (or nothing) may still, through a stored leaving date that has come.
    pub fn may_change_parent_groups(&self) -> bool {
        self.complete
            || !self.students.is_empty()
            || !self.leavers.is_empty()
            || !self.guardians.is_empty()
            || !self.links.is_empty()
            || !self.year_groups.is_empty()
            || !self.form_groups.is_empty()
            || !self.classes.is_empty()
            || !self.deletions.is_empty()
    }

    pub fn new(complete: bool, types: DataTypes) -> Self {
        Self {
            complete,
            types,
            memberships: Memberships::ByGroup,
            link_scope: LinkScope::ByStudent,
            students: Vec::new(),
            staff: Vec::new(),
            guardians: Vec::new(),
            links: Vec::new(),
            year_groups: Vec::new(),
            form_groups: Vec::new(),
            classes: Vec::new(),
            leavers: Vec::new(),
            deletions: Vec::new(),
            duplicates: Vec::new(),
            cut_short: Vec::new(),
            unreadable: Vec::new(),
            links_unstated: Vec::new(),
            group_pupils_unstated: HashSet::new(),
            group_staff_unstated: HashSet::new(),
            notices: Vec::new(),
            unstated: Unstated::default(),
        }
    }
}

#[cfg(test)]
mod clean_email_tests {
    use super::clean_email;

    #[test]
    fn invisible_and_white_characters_around_an_email_go() {
        for raw in [" a@b.org\t", "\u{200B}a@b.org", "\u{FEFF}a@b.org\u{00A0}", "\u{2060}a@b.org\u{200D}\n"] {
            assert_eq!(clean_email(Some(raw)).as_deref(), Some("a@b.org"), "{raw:?}");
        }
        assert_eq!(clean_email(Some(" \u{200B} ")), None);
        assert_eq!(clean_email(Some("A@B.org")).as_deref(), Some("A@B.org"), "case is kept");
    }
}

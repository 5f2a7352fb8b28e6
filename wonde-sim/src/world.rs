//! The simulator's mutable state: the trust's schools, the id generator and
//! the per-school indexes that keep rendering a large school cheap.

use std::collections::{HashMap, HashSet};
use std::ops::RangeInclusive;

use chrono::{Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::faults::FaultRule;
use crate::model::{MisSnapshot, Timestamp};

/// Generated records are dated before this instant, so anything the control
/// API touches (dated "now") is strictly newer and `updated_after` can tell.
pub(crate) fn epoch() -> Timestamp {
    Utc.with_ymd_and_hms(2025, 7, 15, 12, 0, 0).single().unwrap_or_else(Utc::now)
}

/// A field override applied to a rendered record, so tests can produce the
/// malformed or odd shapes real MIS data has (see `SimHandle::patch_record`).
#[derive(Clone, Debug)]
pub(crate) struct Patch {
    pub kind: String,
    pub id: String,
    pub path: String,
    pub value: serde_json::Value,
}

/// Per-school rendering quirks, fixed by the school's position in the trust,
/// so a sync meets every shape the client must accept.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Quirks {
    /// Pivot booleans as "1"/"0" strings instead of JSON booleans.
    pub string_booleans: bool,
    /// `urn` as a string instead of a number.
    pub string_urn: bool,
}

pub(crate) struct SchoolState {
    pub mis: MisSnapshot,
    pub outage: bool,
    pub patches: Vec<Patch>,
    pub quirks: Quirks,
    /// Whether the school's people have been generated: trust schools at
    /// start, catalog schools on their first approval (see
    /// `generate::give_catalog_roster`).
    pub rostered: bool,
    index: Option<Index>,
}

impl SchoolState {
    pub fn new(mis: MisSnapshot, quirks: Quirks) -> Self {
        let rostered = mis.school.in_trust;
        SchoolState { mis, outage: false, patches: Vec::new(), quirks, rostered, index: None }
    }

    /// Every mutation goes through here so the index is rebuilt lazily.
    pub fn mis_mut(&mut self) -> &mut MisSnapshot {
        self.index = None;
        &mut self.mis
    }

    pub fn indexed(&mut self) -> (&MisSnapshot, &Index) {
        let index = self.index.get_or_insert_with(|| Index::build(&self.mis));
        (&self.mis, index)
    }
}

/// Positions into the snapshot's vectors, keyed by Wonde id.
#[derive(Default)]
pub(crate) struct Index {
    pub student: HashMap<String, usize>,
    pub leaver: HashMap<String, usize>,
    pub employee: HashMap<String, usize>,
    pub contact: HashMap<String, usize>,
    pub group: HashMap<String, usize>,
    pub subject: HashMap<String, usize>,
    pub links_by_student: HashMap<String, Vec<usize>>,
    pub links_by_contact: HashMap<String, Vec<usize>>,
    pub classes_by_student: HashMap<String, Vec<usize>>,
    pub classes_by_employee: HashMap<String, Vec<usize>>,
    pub students_by_group: HashMap<String, Vec<usize>>,
}

impl Index {
    fn build(mis: &MisSnapshot) -> Index {
        let mut ix = Index::default();
        for (i, s) in mis.students.iter().enumerate() {
            ix.student.insert(s.id.clone(), i);
            for g in [&s.year_group_id, &s.form_group_id].into_iter().flatten() {
                ix.students_by_group.entry(g.clone()).or_default().push(i);
            }
        }
        for (i, s) in mis.leavers.iter().enumerate() {
            ix.leaver.insert(s.id.clone(), i);
        }
        for (i, e) in mis.employees.iter().enumerate() {
            ix.employee.insert(e.id.clone(), i);
        }
        for (i, c) in mis.contacts.iter().enumerate() {
            ix.contact.insert(c.id.clone(), i);
        }
        for (i, g) in mis.groups.iter().enumerate() {
            ix.group.insert(g.id.clone(), i);
        }
        for (i, s) in mis.subjects.iter().enumerate() {
            ix.subject.insert(s.id.clone(), i);
        }
        for (i, l) in mis.links.iter().enumerate() {
            ix.links_by_student.entry(l.student_id.clone()).or_default().push(i);
            ix.links_by_contact.entry(l.contact_id.clone()).or_default().push(i);
        }
        for (i, c) in mis.classes.iter().enumerate() {
            for s in &c.student_ids {
                ix.classes_by_student.entry(s.clone()).or_default().push(i);
            }
            for t in &c.teachers {
                ix.classes_by_employee.entry(t.employee_id.clone()).or_default().push(i);
            }
        }
        ix
    }
}

/// The whole simulated Wonde: the trust's schools and the catalog extras.
pub(crate) struct World {
    pub schools: Vec<SchoolState>,
    pub app_token: String,
    /// The seed the world was built from; catalog rosters derive theirs from it.
    pub seed: u64,
    pub rng: StdRng,
    used_ids: HashSet<String>,
    next_mis_id: u64,
    pub faults: Vec<FaultRule>,
    /// Students given to a catalog school on its first approval.
    pub catalog_roster: RangeInclusive<usize>,
}

impl World {
    pub fn new(seed: u64) -> World {
        World {
            schools: Vec::new(),
            app_token: String::new(),
            seed,
            rng: StdRng::seed_from_u64(seed),
            used_ids: HashSet::new(),
            next_mis_id: 1000,
            faults: Vec::new(),
            catalog_roster: 0..=0,
        }
    }

    /// Runs `f` with a generator of its own (seeded with `seed`) and MIS ids
    /// counted from the start, so what `f` makes depends on `seed` alone and
    /// not on what happened to the world before. Ids stay unique world-wide.
    pub fn with_own_rng<R>(&mut self, seed: u64, f: impl FnOnce(&mut World) -> R) -> R {
        let saved_rng = std::mem::replace(&mut self.rng, StdRng::seed_from_u64(seed));
        let saved_mis_id = std::mem::replace(&mut self.next_mis_id, 1000);
        let out = f(self);
        self.rng = saved_rng;
        self.next_mis_id = self.next_mis_id.max(saved_mis_id);
        out
    }

    pub fn school(&self, id: &str) -> Option<&SchoolState> {
        self.schools.iter().find(|s| s.mis.school.id == id)
    }

    pub fn school_mut(&mut self, id: &str) -> Option<&mut SchoolState> {
        self.schools.iter_mut().find(|s| s.mis.school.id == id)
    }

    /// A Wonde-style id ("A" and ten digits), unique across the world.
    pub fn fresh_id(&mut self) -> String {
        loop {
            let n: u64 = self.rng.random_range(1_000_000_000..10_000_000_000);
            let id = format!("A{n}");
            if self.used_ids.insert(id.clone()) {
                return id;
            }
        }
    }

    /// Claims `key` (an id, a UPN) as used world-wide; false if it was.
    pub(crate) fn claim(&mut self, key: &str) -> bool {
        self.used_ids.insert(key.to_owned())
    }

    /// A 32-hex UPI. Wonde hashes MIS id and school; random is as opaque.
    pub fn fresh_upi(&mut self) -> String {
        format!("{:032x}", self.rng.random::<u128>())
    }

    pub fn fresh_mis_id(&mut self) -> String {
        self.next_mis_id += 1;
        self.next_mis_id.to_string()
    }

    pub fn fresh_token(&mut self, prefix: &str) -> String {
        format!("{prefix}{:032x}", self.rng.random::<u128>())
    }

    /// A moment in the two years before the epoch, with microseconds, so
    /// rendered timestamps exercise the `.ffffff` form.
    pub fn past_time(&mut self) -> Timestamp {
        let secs = self.rng.random_range(0..(2 * 365 * 24 * 3600));
        let micros = self.rng.random_range(0..1_000_000);
        epoch() - Duration::seconds(secs) + Duration::microseconds(micros)
    }

    /// (created_at, updated_at) with updated no earlier than created.
    pub fn past_pair(&mut self) -> (Timestamp, Timestamp) {
        let a = self.past_time();
        let b = self.past_time();
        if a <= b { (a, b) } else { (b, a) }
    }
}

//! Deterministic generation of a trust from a seed and sizes.
//!
//! Everything draws from the world's one seeded RNG in a fixed order, and no
//! hash map is iterated, so the same seed and sizes give the same ids, names
//! and tokens on every run.

use chrono::{Datelike, Duration, NaiveDate};
use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};

pub(crate) mod families;
mod words;

use self::families::{Family, add_family, new_family, reuse_family};
use self::words::{AREAS, COLOURS, MIDDLE, MIS, PLACES, SUBJECTS, SURNAMES, TREES, pick, pick_forename};
use crate::catalog::{Taken, make_catalog_school};
use crate::model::{
    AccessState, Class, Employee, Group, GroupKind, MisSnapshot, School, Student, Subject, Teaching,
};
use crate::world::{Quirks, SchoolState, World, epoch};

const UPN_CHECK: &[u8] = b"ABCDEFGHJKLMNPQRTUVWXYZ";
const FORM_SIZE: usize = 30;
const CLASS_SIZE: usize = 28;

/// Builds the world: `schools` trust schools with `students_per_school`
/// students each, and `catalog_extra` schools that only appear in the
/// `/schools/all` catalog (no people until their first approval, see
/// [`give_catalog_roster`]).
pub(crate) fn build_world(
    seed: u64,
    schools: usize,
    students_per_school: usize,
    catalog_extra: usize,
    app_token: Option<String>,
) -> World {
    let mut world = World::new(seed);
    world.app_token = app_token.unwrap_or_else(|| world.fresh_token("app_"));
    let mut previous_families: Vec<Family> = Vec::new();
    for i in 0..schools {
        let school = make_school(&mut world, i, true);
        let quirks = Quirks { string_booleans: i % 3 == 2, string_urn: i % 2 == 1 };
        let mut state = SchoolState::new(empty_snapshot(school), quirks);
        previous_families = populate(&mut world, &mut state, students_per_school, &previous_families);
        world.schools.push(state);
    }
    let mut taken = Taken::of(&world);
    for i in 0..catalog_extra {
        let school = make_catalog_school(&mut world, &mut taken);
        let quirks = Quirks { string_booleans: i % 7 == 3, string_urn: i % 2 == 1 };
        world.schools.push(SchoolState::new(empty_snapshot(school), quirks));
    }
    world
}

fn empty_snapshot(school: School) -> MisSnapshot {
    MisSnapshot {
        school,
        students: Vec::new(),
        leavers: Vec::new(),
        employees: Vec::new(),
        contacts: Vec::new(),
        links: Vec::new(),
        groups: Vec::new(),
        classes: Vec::new(),
        subjects: Vec::new(),
        deletions: Vec::new(),
    }
}

fn make_school(world: &mut World, n: usize, in_trust: bool) -> School {
    let secondary = n.is_multiple_of(2);
    let place = PLACES[n % PLACES.len()];
    let suffix = if n >= PLACES.len() { format!(" {}", n / PLACES.len() + 1) } else { String::new() };
    let name = if secondary {
        format!("{place}{suffix} Academy")
    } else {
        format!("{place}{suffix} Primary School")
    };
    let area = AREAS[n % AREAS.len()];
    let postcode = format!(
        "{area}{} {}{}{}",
        world.rng.random_range(1..30),
        world.rng.random_range(1..10),
        random_letter(world),
        random_letter(world)
    );
    let (created_at, updated_at) = world.past_pair();
    let token = world.fresh_token("sch_");
    School {
        id: world.fresh_id(),
        name,
        urn: world.rng.random_range(100_000..150_000),
        la_code: if in_trust { "873".to_owned() } else { format!("{}", world.rng.random_range(200..999)) },
        establishment_number: format!("{}", world.rng.random_range(2000..7000)),
        phase_of_education: if secondary { "SECONDARY" } else { "PRIMARY" }.to_owned(),
        mis: MIS[n % MIS.len()].to_owned(),
        address_line_1: format!("{} School Lane", world.rng.random_range(1..200)),
        town: place.to_owned(),
        postcode,
        token,
        access: if in_trust { AccessState::Approved } else { AccessState::None },
        in_trust,
        created_at,
        updated_at,
        audit_approved_at: if in_trust { Some(updated_at) } else { None },
    }
}

fn random_letter(world: &mut World) -> char {
    char::from(b'A' + world.rng.random_range(0..26u8))
}

/// The NC year codes a school teaches, youngest first.
pub(crate) fn year_codes(phase: &str) -> Vec<String> {
    let years = |from: u32, to: u32| (from..=to).map(|y| y.to_string());
    match phase {
        "PRIMARY" => std::iter::once("R".to_owned()).chain(years(1, 6)).collect(),
        "ALL THROUGH" => std::iter::once("R".to_owned()).chain(years(1, 11)).collect(),
        "SPECIAL" => years(3, 11).collect(),
        _ => years(7, 11).collect(),
    }
}

pub(crate) fn year_number(code: &str) -> u32 {
    code.parse().unwrap_or(0)
}

/// A date of birth in the academic year a child of that NC year was born in.
fn dob_for_year(world: &mut World, code: &str) -> Option<NaiveDate> {
    let start_year = 2020 - i32::try_from(year_number(code)).unwrap_or(0);
    let start = NaiveDate::from_ymd_opt(start_year, 9, 1)?;
    Some(start + Duration::days(world.rng.random_range(0..365)))
}

/// A 13-character UPN with a valid DfE check letter, unique in the world
/// (a UPN is one child's for life): two pupils sharing one is a data error
/// that tests make on purpose, not one that a school's size makes likely
/// (16,000 serials a school meet twice among a few hundred pupils).
fn make_upn(world: &mut World, school: &School) -> String {
    // A school of more pupils than serials would loop forever: after a
    // few draws, a repeat is let through.
    let mut draws = 0;
    loop {
        draws += 1;
        let digits = format!(
            "{}{}{:02}{:03}",
            school.la_code,
            school.establishment_number,
            world.rng.random_range(10..26),
            world.rng.random_range(0..1000)
        );
        let sum: u32 = digits
            .bytes()
            .enumerate()
            .map(|(i, b)| u32::from(b - b'0') * (u32::try_from(i).unwrap_or(0) + 2))
            .sum();
        let check = char::from(UPN_CHECK[(sum % 23) as usize]);
        let upn = format!("{check}{digits}");
        if world.claim(&upn) || draws > 64 {
            return upn;
        }
    }
}

pub(crate) struct NewStudent<'a> {
    pub year_code: &'a str,
    pub surname: Option<String>,
}

/// Makes a student (not yet placed in groups or classes).
pub(crate) fn make_student(world: &mut World, school: &School, spec: &NewStudent<'_>) -> Student {
    let female = world.rng.random_bool(0.5);
    let forename = pick_forename(world, female);
    let surname = spec.surname.clone().unwrap_or_else(|| pick(world, SURNAMES).to_owned());
    let (created_at, updated_at) = world.past_pair();
    let mis_id = world.fresh_mis_id();
    let gender = if world.rng.random_bool(0.02) {
        None
    } else if female {
        Some("F".to_owned())
    } else {
        Some("M".to_owned())
    };
    let date_of_birth = if world.rng.random_bool(0.01) { None } else { dob_for_year(world, spec.year_code) };
    let upn = if world.rng.random_bool(0.005) { None } else { Some(make_upn(world, school)) };
    let middle_names = if world.rng.random_bool(0.2) { Some(pick(world, MIDDLE).to_owned()) } else { None };
    let entry_year = epoch().year()
        - i32::try_from(world.rng.random_range(0..=year_number(spec.year_code).min(5))).unwrap_or(0);
    Student {
        id: world.fresh_id(),
        upi: world.fresh_upi(),
        admission_number: format!("{mis_id:0>6}"),
        mis_id,
        forename,
        surname,
        middle_names,
        legal_surname: None,
        gender,
        date_of_birth,
        upn,
        admission_date: NaiveDate::from_ymd_opt(entry_year, 9, 1).unwrap_or_default(),
        leaving_date: None,
        year_group_id: None,
        form_group_id: None,
        restored_at: None,
        created_at,
        updated_at,
    }
}

fn make_employee(world: &mut World, school: &School, teaching: bool, role: &str) -> Employee {
    let female = world.rng.random_bool(0.7);
    let forename = pick_forename(world, female);
    let surname = pick(world, SURNAMES).to_owned();
    let title = if world.rng.random_bool(0.03) {
        None
    } else if female {
        Some(pick(world, &["Mrs", "Ms", "Miss", "Dr"]).to_owned())
    } else {
        Some(pick(world, &["Mr", "Dr"]).to_owned())
    };
    let domain = school_domain(school);
    let email = if world.rng.random_bool(0.03) {
        None
    } else {
        Some(format!(
            "{}.{}@{domain}",
            forename.chars().next().unwrap_or('x').to_ascii_lowercase(),
            surname.to_lowercase().replace('\'', "")
        ))
    };
    let (created_at, updated_at) = world.past_pair();
    let start = NaiveDate::from_ymd_opt(world.rng.random_range(2005..2025), 9, 1).unwrap_or_default();
    let initials: String = [&forename, &surname].iter().filter_map(|s| s.chars().next()).collect();
    Employee {
        id: world.fresh_id(),
        upi: world.fresh_upi(),
        mis_id: world.fresh_mis_id(),
        title,
        staff_code: format!("{initials}{}", world.rng.random_range(1..10)),
        forename,
        surname,
        gender: Some(if female { "F" } else { "M" }.to_owned()),
        email,
        phone: Some(format!("01{:09}", world.rng.random_range(0..1_000_000_000u32))),
        teaching_staff: teaching,
        role_text: role.to_owned(),
        current: true,
        employment_start_date: start,
        employment_end_date: None,
        restored_at: None,
        created_at,
        updated_at,
    }
}

fn school_domain(school: &School) -> String {
    let slug: String =
        school.name.to_lowercase().chars().filter(char::is_ascii_alphanumeric).take(16).collect();
    format!("{slug}.sch.uk")
}

/// Fills one school: groups, staff, students, classes and families.
/// Returns the school's families, some of which the next school reuses.
pub(crate) fn populate(
    world: &mut World,
    state: &mut SchoolState,
    n_students: usize,
    previous_families: &[Family],
) -> Vec<Family> {
    let school = state.mis.school.clone();
    let mis = state.mis_mut();
    let years = year_codes(&school.phase_of_education);
    let primary = school.phase_of_education == "PRIMARY";

    // Subjects: a primary teaches everything in its forms; model two sets.
    let subject_list: &[(&str, &str)] = if primary { &SUBJECTS[..2] } else { SUBJECTS };
    for (code, name) in subject_list {
        let (created_at, updated_at) = world.past_pair();
        mis.subjects.push(Subject {
            id: world.fresh_id(),
            mis_id: world.fresh_mis_id(),
            code: (*code).to_owned(),
            name: (*name).to_owned(),
            created_at,
            updated_at,
        });
    }

    // Students per year, remainder to the younger years.
    let per_year = n_students / years.len();
    let mut remainder = n_students % years.len();
    let mut by_year: Vec<Vec<usize>> = Vec::new();
    for code in &years {
        let count = per_year + usize::from(remainder > 0);
        remainder = remainder.saturating_sub(1);
        let mut idx = Vec::with_capacity(count);
        for _ in 0..count {
            let student = make_student(world, &school, &NewStudent { year_code: code, surname: None });
            idx.push(mis.students.len());
            mis.students.push(student);
        }
        by_year.push(idx);
    }

    // Staff: enough teachers to tutor every form and teach every set.
    let forms_total: usize = by_year.iter().map(|y| y.len().div_ceil(FORM_SIZE).max(1)).sum();
    let n_teachers = (n_students / 16 + 2).max(forms_total + 1);
    let n_support = n_students / 40 + 2;
    mis.employees.push(make_employee(world, &school, true, "Headteacher"));
    for _ in 0..n_teachers {
        mis.employees.push(make_employee(world, &school, true, "Teacher"));
    }
    for i in 0..n_support {
        let role = if i % 3 == 0 { "Office Manager" } else { "Teaching Assistant" };
        mis.employees.push(make_employee(world, &school, false, role));
    }
    // A few former staff still listed, as MIS exports keep them.
    let n_former = (mis.employees.len() / 50).max(1);
    for _ in 0..n_former {
        let mut e = make_employee(world, &school, true, "Teacher");
        e.current = false;
        e.employment_end_date = Some(epoch().date_naive() - Duration::days(world.rng.random_range(30..700)));
        mis.employees.push(e);
    }
    let teachers: Vec<String> = mis.employees[1..=n_teachers].iter().map(|e| e.id.clone()).collect();
    let mut next_teacher = 0usize;
    let mut take_teacher = || {
        let id = teachers[next_teacher % teachers.len()].clone();
        next_teacher += 1;
        id
    };

    // YEAR and REGISTRATION groups, and class sets per subject.
    for (y, code) in years.iter().enumerate() {
        let (created_at, updated_at) = world.past_pair();
        let year_name = if code == "R" { "Reception".to_owned() } else { format!("Year {code}") };
        let year_group = Group {
            id: world.fresh_id(),
            mis_id: world.fresh_mis_id(),
            kind: GroupKind::Year,
            name: year_name.clone(),
            code: code.clone(),
            description: year_name,
            year_code: code.clone(),
            employee_ids: vec![take_teacher()],
            created_at,
            updated_at,
        };
        let n_forms = by_year[y].len().div_ceil(FORM_SIZE).max(1);
        let names = if primary { TREES } else { COLOURS };
        let mut form_ids = Vec::new();
        for f in 0..n_forms {
            let (created_at, updated_at) = world.past_pair();
            let label = names[f % names.len()];
            let code_str = format!("{code}{}", label.to_uppercase());
            let group = Group {
                id: world.fresh_id(),
                mis_id: world.fresh_mis_id(),
                kind: GroupKind::Registration,
                name: code_str.clone(),
                code: code_str,
                description: format!("{code} {label}"),
                year_code: code.clone(),
                employee_ids: vec![take_teacher()],
                created_at,
                updated_at,
            };
            form_ids.push(group.id.clone());
            mis.groups.push(group);
        }
        for (k, &si) in by_year[y].iter().enumerate() {
            let s = &mut mis.students[si];
            s.year_group_id = Some(year_group.id.clone());
            s.form_group_id = Some(form_ids[k % form_ids.len()].clone());
        }
        mis.groups.push(year_group);

        // Primaries only set the oldest two years; secondaries set everything.
        if primary && year_number(code) < 5 {
            continue;
        }
        for subject in mis.subjects.clone() {
            let mut members: Vec<String> = by_year[y].iter().map(|&si| mis.students[si].id.clone()).collect();
            members.shuffle(&mut world.rng);
            let n_sets = members.len().div_ceil(CLASS_SIZE).max(1);
            for set in 0..n_sets {
                let (created_at, updated_at) = world.past_pair();
                let name =
                    format!("{code}{}/{}{}", char::from(b'A' + (set % 26) as u8), subject.code, set + 1);
                let mut teachers_here = vec![Teaching {
                    employee_id: take_teacher(),
                    is_main_teacher: true,
                    role: "Main Class Teacher".to_owned(),
                }];
                if world.rng.random_bool(0.15) {
                    teachers_here.push(Teaching {
                        employee_id: take_teacher(),
                        is_main_teacher: false,
                        role: "Class Teacher".to_owned(),
                    });
                }
                let chunk: Vec<String> =
                    members.iter().skip(set * CLASS_SIZE).take(CLASS_SIZE).cloned().collect();
                mis.classes.push(Class {
                    id: world.fresh_id(),
                    mis_id: world.fresh_mis_id(),
                    description: name.clone(),
                    name,
                    subject_id: subject.id.clone(),
                    year_code: code.clone(),
                    teachers: teachers_here,
                    student_ids: chunk,
                    created_at,
                    updated_at,
                });
            }
        }
    }

    // Families: shuffle the roll and cut it into households of 1-3 siblings.
    let mut order: Vec<usize> = (0..mis.students.len()).collect();
    order.shuffle(&mut world.rng);
    let mut families = Vec::new();
    let mut pos = 0;
    while pos < order.len() {
        let size = match world.rng.random_range(0..100) {
            0..55 => 1,
            55..90 => 2,
            _ => 3,
        }
        .min(order.len() - pos);
        let children: Vec<usize> = order[pos..pos + size].to_vec();
        pos += size;
        // Some families also have a child at the previous school of the trust.
        let family = match previous_families.choose(&mut world.rng) {
            Some(f) if world.rng.random_bool(0.06) => reuse_family(world, f),
            _ => new_family(world),
        };
        for &ci in &children {
            mis.students[ci].surname.clone_from(&family.surname);
        }
        add_family(world, mis, &family, &children);
        families.push(family);
    }
    families
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Contact;

    #[test]
    fn same_seed_same_world() {
        let a = build_world(7, 2, 60, 3, None);
        let b = build_world(7, 2, 60, 3, None);
        let ids = |w: &World| -> Vec<String> {
            w.schools
                .iter()
                .flat_map(|s| s.mis.students.iter().map(|x| format!("{}{}", x.id, x.forename)))
                .collect()
        };
        assert_eq!(ids(&a), ids(&b));
        assert_eq!(a.app_token, b.app_token);
        assert_eq!(a.schools.len(), 5);
        assert_eq!(a.schools[0].mis.students.len(), 60);
    }

    #[test]
    fn upn_check_letter_is_valid() {
        let w = build_world(3, 1, 40, 0, None);
        for s in &w.schools[0].mis.students {
            if let Some(upn) = &s.upn {
                assert_eq!(upn.len(), 13, "{upn}");
                assert!(upn.as_bytes()[0].is_ascii_uppercase());
            }
        }
    }

    #[test]
    fn families_span_two_schools_with_case_differing_emails() {
        let w = build_world(11, 2, 400, 0, None);
        let norm = |e: &str| e.trim().to_lowercase();
        let first: std::collections::BTreeSet<String> =
            w.schools[0].mis.contacts.iter().filter_map(|c| c.email.as_deref().map(norm)).collect();
        let shared: Vec<&Contact> = w.schools[1]
            .mis
            .contacts
            .iter()
            .filter(|c| c.email.as_deref().is_some_and(|e| first.contains(&norm(e))))
            .collect();
        assert!(!shared.is_empty());
        assert!(shared.iter().any(|c| c.email.as_deref().is_some_and(|e| e != norm(e))));
    }

    #[test]
    fn every_student_has_year_form_and_a_guardian() {
        let w = build_world(5, 1, 300, 0, None);
        let mis = &w.schools[0].mis;
        for s in &mis.students {
            assert!(s.year_group_id.is_some() && s.form_group_id.is_some());
            assert!(!mis.links_of(&s.id).is_empty());
        }
        assert!(mis.classes.iter().all(|c| !c.teachers.is_empty()));
    }
}

//! Families: guardians made once and linked to every child, siblings
//! sharing them, and the same people reused at a second school as that
//! school's MIS typed them.

use rand::Rng;

use super::words::{EMAIL_DOMAINS, SURNAMES, pick, pick_forename};
use crate::model::{Contact, Link, MisSnapshot};
use crate::world::World;

/// One person's identity, reused when a family has children at two schools.
#[derive(Clone)]
struct GuardianIdentity {
    title: Option<String>,
    forename: String,
    surname: String,
    gender: Option<String>,
    email: Option<String>,
    relationship: &'static str,
    parental_responsibility: bool,
    lives_with_pupil: bool,
}

#[derive(Clone)]
pub(crate) struct Family {
    pub(super) surname: String,
    guardians: Vec<GuardianIdentity>,
}

/// The same people, as the other school's MIS typed them: email case and
/// surrounding spaces differ.
pub(super) fn reuse_family(world: &mut World, family: &Family) -> Family {
    let mut copy = family.clone();
    for g in &mut copy.guardians {
        g.email = g.email.as_ref().map(|e| match world.rng.random_range(0..3) {
            0 => format!(" {} ", e.to_uppercase()),
            1 => {
                let mut chars = e.chars();
                let first: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
                format!("{first}{}  ", chars.as_str())
            }
            _ => format!("\t{e}"),
        });
    }
    copy
}

pub(super) fn new_family(world: &mut World) -> Family {
    let surname = pick(world, SURNAMES).to_owned();
    let mut guardians = Vec::new();
    let person = |world: &mut World,
                  relationship: &'static str,
                  female: Option<bool>,
                  pr: bool,
                  lives: bool,
                  same_surname: bool| {
        let female = female.unwrap_or_else(|| world.rng.random_bool(0.5));
        let forename = pick_forename(world, female);
        let g_surname = if same_surname { surname.clone() } else { pick(world, SURNAMES).to_owned() };
        let email = if world.rng.random_bool(0.08) {
            None
        } else {
            let n = world.rng.random_range(1..999);
            let domain = pick(world, EMAIL_DOMAINS);
            Some(format!(
                "{}.{}{n}@{domain}",
                forename.to_lowercase(),
                g_surname.to_lowercase().replace('\'', "")
            ))
        };
        let title = if female { pick(world, &["Mrs", "Ms", "Miss"]).to_owned() } else { "Mr".to_owned() };
        GuardianIdentity {
            title: Some(title),
            forename,
            surname: g_surname,
            gender: if world.rng.random_bool(0.1) {
                None
            } else {
                Some(if female { "F" } else { "M" }.to_owned())
            },
            email,
            relationship,
            parental_responsibility: pr,
            lives_with_pupil: lives,
        }
    };
    let roll = world.rng.random_range(0..100);
    match roll {
        0..58 => {
            guardians.push(person(world, "Mother", Some(true), true, true, true));
            let lives = world.rng.random_bool(0.8);
            guardians.push(person(world, "Father", Some(false), true, lives, true));
        }
        58..72 => guardians.push(person(world, "Mother", Some(true), true, true, true)),
        72..78 => {
            guardians.push(person(world, "Mother", Some(true), true, true, true));
            guardians.push(person(world, "Step-father", Some(false), false, true, false));
        }
        78..82 => {
            guardians.push(person(world, "Father", Some(false), true, true, true));
            guardians.push(person(world, "Step-mother", Some(true), false, true, false));
        }
        82..86 => {
            guardians.push(person(world, "Grandmother", Some(true), false, true, true));
            guardians.push(person(world, "Grandparent", Some(false), false, true, true));
        }
        86..89 => {
            guardians.push(person(world, "Foster Carer", None, false, true, false));
            guardians.push(person(world, "Carer", None, false, false, false));
        }
        89..93 => guardians.push(person(world, "Guardian", None, true, true, false)),
        93..97 => {
            guardians.push(person(world, "Mother", Some(true), true, true, true));
            let rel = if world.rng.random_bool(0.5) { "Aunt" } else { "Uncle" };
            let female = rel == "Aunt";
            guardians.push(person(world, rel, Some(female), false, false, false));
        }
        _ => {
            guardians.push(person(world, "Father", Some(false), true, true, true));
            guardians.push(person(world, "Other", None, false, false, false));
        }
    }
    Family { surname, guardians }
}

/// Creates this school's contact records for a family and links them to
/// every child, so siblings share guardians.
pub(super) fn add_family(world: &mut World, mis: &mut MisSnapshot, family: &Family, children: &[usize]) {
    for (p, g) in family.guardians.iter().enumerate() {
        let (created_at, updated_at) = world.past_pair();
        let contact = Contact {
            id: world.fresh_id(),
            upi: world.fresh_upi(),
            mis_id: world.fresh_mis_id(),
            title: g.title.clone(),
            forename: g.forename.clone(),
            surname: g.surname.clone(),
            gender: g.gender.clone(),
            email: g.email.clone(),
            mobile: if world.rng.random_bool(0.1) {
                None
            } else {
                Some(format!("07{:09}", world.rng.random_range(0..1_000_000_000u32)))
            },
            created_at,
            updated_at,
        };
        for &ci in children {
            mis.links.push(Link {
                student_id: mis.students[ci].id.clone(),
                contact_id: contact.id.clone(),
                relationship: g.relationship.to_owned(),
                parental_responsibility: g.parental_responsibility,
                lives_with_pupil: g.lives_with_pupil,
                priority: u32::try_from(p + 1).unwrap_or(1),
                bill_payer: p == 0,
                email_bills: p == 0 && g.email.is_some(),
            });
        }
        mis.contacts.push(contact);
    }
}

/// A new family for a new starter (control API), returning nothing but the
/// records it added.
pub(crate) fn add_new_family(world: &mut World, mis: &mut MisSnapshot, child: usize) {
    let family = new_family(world);
    mis.students[child].surname.clone_from(&family.surname);
    let before = mis.contacts.len();
    add_family(world, mis, &family, &[child]);
    // Contacts created now carry now, so `updated_after` finds them.
    let now = mis.students[child].updated_at;
    for contact in &mut mis.contacts[before..] {
        contact.created_at = now;
        contact.updated_at = now;
    }
}

//! The schools of Wonde's directory that are not the trust's: what
//! `/schools/all` lists beside them, for catalog search, access requests and
//! the approval flow.
//!
//! A catalog school is made from words, deterministically from the world's
//! seed: a name such as "St Mary's Church of England Primary School" or
//! "Oakfield Academy", a real-looking town with its postcode district and LA
//! code (so postcode prefixes are shared: `CB2` takes `CB21`, `CB22`...), a
//! unique URN, an establishment number unique within its LA and in the DfE
//! range of its phase, a phase, a MIS and an `updated_at`.
//!
//! It has no people until its first approval. Then [`give_catalog_roster`]
//! generates a small roster (by default 5 to 20 students with guardians,
//! staff, year and registration groups, classes) with a generator seeded
//! from the world's seed and the school id, so the same school gets the same
//! roster whenever and in whatever order it is approved, and a first FULL
//! sync finds students to store. It is generated once: a school revoked and
//! approved again keeps its people.

use std::collections::HashSet;

use rand::Rng;
use rand::seq::IndexedRandom;

use crate::generate::populate;
use crate::model::{AccessState, School};
use crate::world::{SchoolState, World};

/// A town, the postcode districts of its schools, its LA code, and the
/// neighbourhoods a city's schools are named after.
struct Town {
    name: &'static str,
    districts: &'static [&'static str],
    la_code: &'static str,
    places: &'static [&'static str],
}

const fn town(name: &'static str, districts: &'static [&'static str], la_code: &'static str) -> Town {
    Town { name, districts, la_code, places: &[] }
}

const fn city(
    name: &'static str,
    districts: &'static [&'static str],
    la_code: &'static str,
    places: &'static [&'static str],
) -> Town {
    Town { name, districts, la_code, places }
}

/// Towns by area. Several share a district (Histon and Cottenham are both
/// CB24) and many share a prefix (CB2, CB21..CB25), as real ones do.
const TOWNS: &[Town] = &[
    city(
        "Cambridge",
        &["CB1", "CB2", "CB3", "CB4", "CB5"],
        "873",
        &["Chesterton", "Cherry Hinton", "Trumpington", "Arbury", "Romsey"],
    ),
    town("Linton", &["CB21"], "873"),
    town("Sawston", &["CB22"], "873"),
    town("Cambourne", &["CB23"], "873"),
    town("Histon", &["CB24"], "873"),
    town("Cottenham", &["CB24"], "873"),
    town("Waterbeach", &["CB25"], "873"),
    town("Ely", &["CB6", "CB7"], "873"),
    town("Soham", &["CB7"], "873"),
    town("Huntingdon", &["PE29"], "873"),
    town("St Neots", &["PE19"], "873"),
    town("St Ives", &["PE27"], "873"),
    town("Wisbech", &["PE13", "PE14"], "873"),
    town("Newmarket", &["CB8"], "935"),
    town("Haverhill", &["CB9"], "935"),
    town("Bury St Edmunds", &["IP32", "IP33"], "935"),
    city(
        "Ipswich",
        &["IP1", "IP2", "IP3", "IP4"],
        "935",
        &["Whitehouse", "Chantry", "Rushmere", "Castle Hill"],
    ),
    city(
        "Leeds",
        &["LS6", "LS7", "LS8", "LS11", "LS12"],
        "383",
        &["Headingley", "Chapel Allerton", "Roundhay", "Beeston", "Armley"],
    ),
    town("Otley", &["LS21"], "383"),
    town("Wetherby", &["LS22"], "383"),
    town("Ilkley", &["LS29"], "380"),
    city(
        "Bradford",
        &["BD3", "BD5", "BD7"],
        "380",
        &["Bowling", "Little Horton", "Great Horton", "Thornbury"],
    ),
    town("Keighley", &["BD20", "BD21"], "380"),
    town("Harrogate", &["HG1", "HG2"], "815"),
    town("Skipton", &["BD23"], "815"),
    city("York", &["YO10", "YO24", "YO31"], "816", &["Fulford", "Acomb", "Heworth", "Dringhouses"]),
    city(
        "Manchester",
        &["M8", "M13", "M14", "M20"],
        "352",
        &["Cheetham", "Longsight", "Fallowfield", "Didsbury", "Ardwick"],
    ),
    city("Salford", &["M5", "M6", "M7"], "355", &["Ordsall", "Pendleton", "Broughton", "Seedley"]),
    city(
        "Stockport",
        &["SK1", "SK2", "SK3", "SK4"],
        "356",
        &["Heaton Moor", "Edgeley", "Offerton", "Reddish"],
    ),
    city(
        "Bristol",
        &["BS3", "BS5", "BS7", "BS16"],
        "801",
        &["Bedminster", "Easton", "Bishopston", "Fishponds", "Southville"],
    ),
    city("Coventry", &["CV2", "CV3", "CV5", "CV6"], "331", &["Wyken", "Cheylesmore", "Earlsdon", "Radford"]),
    city(
        "Birmingham",
        &["B13", "B14", "B23", "B27"],
        "330",
        &["Moseley", "Kings Heath", "Erdington", "Acocks Green", "Yardley"],
    ),
    city("Doncaster", &["DN2", "DN4", "DN5"], "371", &["Wheatley", "Balby", "Bentley", "Intake"]),
    city(
        "Newcastle upon Tyne",
        &["NE4", "NE5", "NE6"],
        "391",
        &["Benwell", "Fenham", "Walker", "Byker", "Heaton"],
    ),
];

const SAINTS: &[&str] = &[
    "St Mary's",
    "St John's",
    "St Peter's",
    "St Paul's",
    "St Andrew's",
    "St Michael's",
    "St George's",
    "St Joseph's",
    "St Anne's",
    "St Thomas'",
    "St Margaret's",
    "St Luke's",
    "St Bede's",
    "St Wilfrid's",
    "St Augustine's",
    "Holy Trinity",
    "Christ Church",
    "All Saints",
    "Sacred Heart",
    "Our Lady of Lourdes",
];
const CHURCH_OF_ENGLAND: &[&str] = &["Church of England", "CofE", "CE", "C of E"];
const CATHOLIC: &[&str] = &["Catholic", "Roman Catholic", "RC"];
const STEMS: &[&str] = &[
    "Oak", "Ash", "Elm", "Willow", "Birch", "Beech", "Holly", "Hazel", "Rowan", "Meadow", "Mill", "Stone",
    "Fern", "Lark", "Thorn", "Heath", "Moor", "Kings", "Queens", "Church", "Castle", "Priory", "Abbey",
    "Orchard", "Spring", "West", "North", "Bramble", "Cedar", "Pine",
];
const ENDINGS: &[&str] = &[
    "field", "lands", "bank", "side", "wood", "mead", "croft", "hill", "dale", "way", "gate", "brook", "lea",
    "well", "ley", "hurst",
];
const STREETS: &[&str] = &[
    "Station Road",
    "Church Lane",
    "High Street",
    "School Lane",
    "Mill Road",
    "Park Avenue",
    "The Green",
    "London Road",
    "Victoria Road",
    "Manor Way",
    "Queens Road",
    "Chapel Street",
];
/// Letters of a postcode's inward part (no C, I, K, M, O, V).
const INWARD: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";

/// URNs and (LA, establishment number) pairs already given out.
pub(crate) struct Taken {
    urns: HashSet<u32>,
    establishments: HashSet<(String, String)>,
}

impl Taken {
    pub fn of(world: &World) -> Taken {
        let schools = world.schools.iter().map(|s| &s.mis.school);
        Taken {
            urns: schools.clone().map(|s| s.urn).collect(),
            establishments: schools.map(|s| (s.la_code.clone(), s.establishment_number.clone())).collect(),
        }
    }
}

fn pick<'a>(world: &mut World, from: &[&'a str]) -> &'a str {
    from.choose(&mut world.rng).copied().unwrap_or_default()
}

/// A weighted choice: `(weight, value)`.
fn weighted<T: Copy>(world: &mut World, from: &[(u32, T)]) -> Option<T> {
    let total: u32 = from.iter().map(|(w, _)| w).sum();
    let mut roll = world.rng.random_range(0..total.max(1));
    for (w, v) in from {
        if roll < *w {
            return Some(*v);
        }
        roll -= w;
    }
    from.last().map(|(_, v)| *v)
}

/// "Oakfield", "Meadowbank", "Thornhill".
fn compound(world: &mut World) -> String {
    let stem = pick(world, STEMS);
    let ending = pick(world, ENDINGS);
    format!("{stem}{ending}")
}

fn name(world: &mut World, phase: &str, town: &str) -> String {
    let roll = world.rng.random_range(0..100);
    match phase {
        "PRIMARY" => {
            let kind = weighted(
                world,
                &[
                    (70, "Primary School"),
                    (10, "Primary Academy"),
                    (10, "Infant School"),
                    (10, "Junior School"),
                ],
            )
            .unwrap_or("Primary School");
            match roll {
                0..30 => {
                    let saint = pick(world, SAINTS);
                    let church = if world.rng.random_bool(0.7) { CHURCH_OF_ENGLAND } else { CATHOLIC };
                    format!("{saint} {} {kind}", pick(world, church))
                }
                30..55 => format!("{} {kind}", compound(world)),
                55..70 => format!("{town} {kind}"),
                70..80 => format!("{town} Community {kind}"),
                80..90 => format!("{town} {} {kind}", pick(world, CHURCH_OF_ENGLAND)),
                _ => format!("The {} {kind}", compound(world)),
            }
        }
        "SECONDARY" => match roll {
            0..30 => format!("{} Academy", compound(world)),
            30..45 => format!("{town} High School"),
            45..58 => format!("{town} Village College"),
            58..70 => format!("{} {} High School", pick(world, SAINTS), pick(world, CATHOLIC)),
            70..80 => format!("{town} Grammar School"),
            80..90 => format!("{} School", compound(world)),
            _ => format!("{town} Community College"),
        },
        "ALL THROUGH" => match roll {
            0..40 => format!("{} All-Through School", compound(world)),
            40..70 => format!("{town} Academy"),
            _ => format!("{} School", compound(world)),
        },
        _ => match roll {
            0..40 => format!("{} School", compound(world)),
            40..70 => format!("{} Special School", compound(world)),
            _ => format!("{} Academy", compound(world)),
        },
    }
}

/// The DfE range of establishment numbers for a phase.
fn establishment_range(phase: &str, church: bool) -> std::ops::Range<u32> {
    match phase {
        "PRIMARY" if church => 3000..4000,
        "PRIMARY" => 2000..3000,
        "SPECIAL" => 7000..8000,
        _ => 4000..5000,
    }
}

fn postcode(world: &mut World, town: &Town) -> String {
    let district = pick(world, town.districts);
    let letter = |world: &mut World| char::from(INWARD.choose(&mut world.rng).copied().unwrap_or(b'A'));
    let digit = world.rng.random_range(1..10);
    let (a, b) = (letter(world), letter(world));
    format!("{district} {digit}{a}{b}")
}

/// One catalog school, not approved, without people.
pub(crate) fn make_catalog_school(world: &mut World, taken: &mut Taken) -> School {
    let phase = weighted(world, &[(64, "PRIMARY"), (24, "SECONDARY"), (5, "ALL THROUGH"), (7, "SPECIAL")])
        .unwrap_or("PRIMARY");
    let town = TOWNS.choose(&mut world.rng).unwrap_or(&TOWNS[0]);
    // A city's schools take their neighbourhood's name ("Moseley Primary").
    let place = town.places.choose(&mut world.rng).copied().unwrap_or(town.name);
    let name = name(world, phase, place);
    let church = [
        "Church", "CofE", " CE ", "C of E", "Catholic", " RC ", "St ", "Holy", "Christ", "Saints", "Our Lady",
    ]
    .iter()
    .any(|w| name.contains(w));
    let urn = loop {
        let urn = world.rng.random_range(100_000..150_000);
        if taken.urns.insert(urn) {
            break urn;
        }
    };
    let range = establishment_range(phase, church);
    let mut number = world.rng.random_range(range.clone());
    // Within a range of 1000 per LA this ends quickly; step on when taken.
    for _ in 0..range.len() {
        if taken.establishments.insert((town.la_code.to_owned(), number.to_string())) {
            break;
        }
        number = if number + 1 >= range.end { range.start } else { number + 1 };
    }
    let mis = if phase == "PRIMARY" {
        weighted(
            world,
            &[
                (40, "SIMS"),
                (18, "Arbor"),
                (10, "Bromcom"),
                (20, "ScholarPack"),
                (7, "Pupil Asset"),
                (5, "Progresso"),
            ],
        )
    } else {
        weighted(world, &[(50, "SIMS"), (20, "Arbor"), (18, "Bromcom"), (7, "Progresso"), (5, "iSAMS")])
    }
    .unwrap_or("SIMS");
    let postcode = postcode(world, town);
    let street = pick(world, STREETS);
    let address_line_1 = format!("{} {street}", world.rng.random_range(1..200));
    let (created_at, updated_at) = world.past_pair();
    let token = world.fresh_token("sch_");
    School {
        id: world.fresh_id(),
        name,
        urn,
        la_code: town.la_code.to_owned(),
        establishment_number: number.to_string(),
        phase_of_education: phase.to_owned(),
        mis: mis.to_owned(),
        address_line_1,
        town: town.name.to_owned(),
        postcode,
        token,
        access: AccessState::None,
        in_trust: false,
        created_at,
        updated_at,
        audit_approved_at: None,
    }
}

/// FNV-1a: a hash that is the same on every platform and Rust version.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Generates a catalog school's people the first time it is approved (a
/// no-op for trust schools and for a school that has them already). The
/// roster depends only on the world's seed and the school's id.
pub(crate) fn give_catalog_roster(world: &mut World, state: &mut SchoolState) {
    if state.rostered {
        return;
    }
    state.rostered = true;
    let sizes = world.catalog_roster.clone();
    if sizes.is_empty() || *sizes.end() == 0 {
        return;
    }
    let seed = world.seed ^ fnv1a(state.mis.school.id.as_bytes());
    world.with_own_rng(seed, |world| {
        let n = world.rng.random_range(sizes);
        populate(world, state, n, &[]);
    });
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::generate::build_world;

    #[test]
    fn three_hundred_varied_schools_with_unique_identifiers() {
        let started = std::time::Instant::now();
        let w = build_world(9, 2, 20, 300, None);
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
        let catalog: Vec<&School> = w.schools.iter().map(|s| &s.mis.school).filter(|s| !s.in_trust).collect();
        assert_eq!(catalog.len(), 300);
        let urns: BTreeSet<u32> = w.schools.iter().map(|s| s.mis.school.urn).collect();
        assert_eq!(urns.len(), 302, "URNs are unique across the world");
        let est: BTreeSet<(&str, &str)> =
            catalog.iter().map(|s| (s.la_code.as_str(), s.establishment_number.as_str())).collect();
        assert_eq!(est.len(), 300, "establishment numbers are unique per LA");
        let names: BTreeSet<&str> = catalog.iter().map(|s| s.name.as_str()).collect();
        assert!(names.len() > 200, "only {} distinct names", names.len());
        let mut phases: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &catalog {
            *phases.entry(s.phase_of_education.as_str()).or_default() += 1;
        }
        assert_eq!(
            phases.keys().copied().collect::<Vec<_>>(),
            ["ALL THROUGH", "PRIMARY", "SECONDARY", "SPECIAL"]
        );
        let mis: BTreeSet<&str> = catalog.iter().map(|s| s.mis.as_str()).collect();
        assert!(mis.len() >= 5, "{mis:?}");
        let districts: BTreeSet<&str> = catalog.iter().filter_map(|s| s.postcode.split(' ').next()).collect();
        assert!(districts.len() > 40, "{districts:?}");
        assert!(
            catalog.iter().all(|s| s.access == AccessState::None && s.updated_at < crate::world::epoch())
        );
        assert!(catalog.iter().any(|s| s.name.contains("Church of England Primary School")));
        assert!(catalog.iter().filter(|s| s.postcode.starts_with("CB2")).count() >= 10);
    }

    #[test]
    fn roster_depends_on_seed_and_school_only() {
        let roster = |approve_first_the_other: bool| {
            let mut w = build_world(4, 1, 10, 5, None);
            w.catalog_roster = 5..=20;
            let (a, b) = (w.schools[1].mis.school.id.clone(), w.schools[2].mis.school.id.clone());
            let order = if approve_first_the_other { [b, a.clone()] } else { [a.clone(), b] };
            for id in order {
                let _ = crate::ops::with_school(&mut w, &id, |world, state| {
                    give_catalog_roster(world, state);
                    Ok(())
                });
            }
            let mis = &w.school(&a).map(|s| s.mis.clone());
            mis.as_ref().map(|m| {
                (
                    m.students.iter().map(|s| (s.id.clone(), s.forename.clone())).collect::<Vec<_>>(),
                    m.contacts.len(),
                    m.employees.len(),
                )
            })
        };
        let first = roster(false);
        assert_eq!(first, roster(true));
        let (students, contacts, staff) = first.unwrap_or_default();
        assert!((5..=20).contains(&students.len()), "{}", students.len());
        assert!(contacts > 0 && staff > 0);
    }
}

//! The word lists names, places and subjects are drawn from, and drawing
//! from them with the world's seeded RNG.

use rand::seq::IndexedRandom;

use crate::world::World;

pub(super) const FEMALE: &[&str] = &[
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Freya", "Grace", "Sophia", "Evie", "Ella",
    "Aisha", "Zara", "Poppy", "Ruby", "Chloe", "Hannah", "Sienna", "Maya", "Emily", "Jessica", "Sarah",
    "Rebecca", "Laura", "Joanne", "Claire", "Priya", "Fatima", "Niamh",
];
pub(super) const MALE: &[&str] = &[
    "Oliver", "George", "Noah", "Arthur", "Leo", "Oscar", "Harry", "Jack", "Charlie", "Jacob", "Thomas",
    "Muhammad", "Alfie", "Henry", "Theo", "Freddie", "Archie", "Joshua", "Daniel", "James", "David", "Mark",
    "Paul", "Andrew", "Ravi", "Kwame", "Tomasz", "Sean", "Owen", "Ethan",
];
pub(super) const SURNAMES: &[&str] = &[
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson",
    "Clarke", "Khan", "Ahmed", "Lewis", "Hughes", "Edwards", "Hill", "Moore", "Clark", "Harrison", "Scott",
    "Young", "Morris", "Hall", "Ward", "Turner", "Carter", "Phillips", "Mitchell", "Begum", "Nowak",
    "O'Brien", "Okafor", "Singh", "Kowalski", "Murphy", "Shaw", "Lloyd", "Ellis", "Chapman",
];
pub(super) const MIDDLE: &[&str] = &["Rose", "Mae", "James", "John", "Grace", "Louise", "Alexander", "Marie"];
pub(super) const PLACES: &[&str] = &[
    "Cheddar Grove",
    "Millbrook",
    "Ashford Vale",
    "Kingsmead",
    "Oakridge",
    "Hollins",
    "Riverside",
    "St Aidan's",
    "Fernhill",
    "Larkspur",
    "Westfield",
    "Brambleton",
    "Castle Hill",
    "Elmswood",
    "Harbour View",
    "Northgate",
    "Queensbury",
    "Redmoor",
    "Sandford",
    "Thornbury",
];
pub(super) const AREAS: &[&str] = &["CB", "LS", "M", "B", "NE", "BS", "YO", "SK", "CV", "DN"];
pub(super) const MIS: &[&str] = &["SIMS", "Arbor", "Bromcom", "ScholarPack"];
pub(super) const COLOURS: &[&str] = &["Red", "Blue", "Green", "Yellow", "Purple", "Orange", "Silver", "Gold"];
pub(super) const TREES: &[&str] = &["Oak", "Ash", "Elm", "Willow", "Birch", "Maple", "Rowan", "Hazel"];
pub(super) const SUBJECTS: &[(&str, &str)] = &[
    ("Ma", "Mathematics"),
    ("En", "English"),
    ("Sc", "Science"),
    ("Hi", "History"),
    ("Gg", "Geography"),
    ("Fr", "French"),
    ("Ar", "Art"),
    ("Pe", "Physical Education"),
    ("Cp", "Computing"),
    ("Mu", "Music"),
];
pub(super) const EMAIL_DOMAINS: &[&str] =
    &["gmail.com", "outlook.com", "yahoo.co.uk", "hotmail.co.uk", "btinternet.com"];

pub(super) fn pick<'a>(world: &mut World, from: &[&'a str]) -> &'a str {
    from.choose(&mut world.rng).copied().unwrap_or("Smith")
}

pub(super) fn pick_forename(world: &mut World, female: bool) -> String {
    pick(world, if female { FEMALE } else { MALE }).to_owned()
}

//! Property tests of what hostile or broken input reaches (issue 13):
//! Wonde's records and CSV files are parsed without a panic, whatever they
//! hold. Wonde records start from what the simulator serves (every quirk
//! included) and have parts replaced by arbitrary JSON; CSV files are
//! generated from cells of awkward text. Bounded by case counts, so the
//! normal `cargo test` runs them.

use chrono::NaiveDate;
use onroll::sync::csv_source::{self, CsvFiles};
use onroll::wonde::model::{
    WondeClass, WondeContact, WondeDeletion, WondeEmployee, WondeGroup, WondeSchool, WondeStudent,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use wonde_sim::{SimConfig, Simulator};

/// Any JSON value, a few levels deep, with the text Wonde's quirks use.
pub fn json_value() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        any::<String>(),
        Just(String::new()),
        Just("0000-00-00 00:00:00".to_owned()),
        Just("2024-02-30 25:61:00.000000".to_owned()),
        Just("true".to_owned()),
        Just("ÿ€😀\u{0}".to_owned()),
        "[0-9]{1,4}-[0-9]{1,2}-[0-9]{1,2}( [0-9]{1,2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?)?",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text.prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}|date|timezone|data|id", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// `record` with the value at one path (chosen by `picks`) replaced.
fn replace(record: &Value, picks: &[usize], with: Value) -> Value {
    let mut out = record.clone();
    put(&mut out, picks, with);
    out
}

fn put(at: &mut Value, picks: &[usize], with: Value) {
    let Some((pick, rest)) = picks.split_first() else {
        *at = with;
        return;
    };
    let next = match at {
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(pick % map.len()).cloned().unwrap_or_default();
            map.get_mut(&key)
        }
        Value::Array(items) if !items.is_empty() => {
            let len = items.len();
            items.get_mut(pick % len)
        }
        _ => None,
    };
    match next {
        Some(next) => put(next, rest, with),
        None => *at = with,
    }
}

/// Every record type, parsed: an error is fine, a panic is not.
fn parse_all(value: &Value) {
    let _ = serde_json::from_value::<WondeStudent>(value.clone());
    let _ = serde_json::from_value::<WondeContact>(value.clone());
    let _ = serde_json::from_value::<WondeEmployee>(value.clone());
    let _ = serde_json::from_value::<WondeClass>(value.clone());
    let _ = serde_json::from_value::<WondeGroup>(value.clone());
    let _ = serde_json::from_value::<WondeDeletion>(value.clone());
    let _ = serde_json::from_value::<WondeSchool>(value.clone());
    if let Value::String(text) = value {
        let _ = onroll::wonde::lenient::parse_datetime(text);
    }
}

/// Records as the simulator serves them, one per endpoint.
async fn simulated_records() -> anyhow::Result<Vec<Value>> {
    let sim =
        Simulator::start(SimConfig { schools: 1, students_per_school: 3, ..SimConfig::default() }).await?;
    let school = sim.schools().into_iter().next().ok_or_else(|| anyhow::anyhow!("no school"))?;
    let http = reqwest::Client::new();
    let mut records = Vec::new();
    for (path, include) in [
        ("", ""),
        ("/students", "education_details,year,registration,contacts"),
        ("/students-leaver", "education_details"),
        ("/employees", "employment_details,contact_details"),
        ("/contacts", "contact_details,students"),
        ("/classes", "employees,students,subject"),
        ("/groups", "students,employees"),
        ("/deletions", ""),
    ] {
        let url = format!("{}/schools/{}{path}?include={include}", sim.base_url(), school.wonde_id);
        let body: Value = http.get(url).bearer_auth(&school.token).send().await?.json().await?;
        match &body["data"] {
            Value::Array(items) => records.extend(items.iter().take(2).cloned()),
            Value::Object(_) => records.push(body["data"].clone()),
            _ => {}
        }
    }
    sim.shutdown().await;
    anyhow::ensure!(records.len() >= 8, "the simulator served too few records: {}", records.len());
    Ok(records)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wonde_records_with_any_part_replaced_parse_without_panic() -> anyhow::Result<()> {
    let records = simulated_records().await?;
    for record in &records {
        parse_all(record);
    }
    let mut runner = TestRunner::new(Config { cases: 600, failure_persistence: None, ..Config::default() });
    let strategy = (0..records.len(), prop::collection::vec(any::<usize>(), 0..5), json_value());
    runner
        .run(&strategy, |(index, picks, with)| {
            parse_all(&replace(&records[index], &picks, with.clone()));
            parse_all(&with);
            Ok(())
        })
        .map_err(|err| anyhow::anyhow!("{err}"))
}

/// A cell of awkward text: quotes, separators, line breaks, BOMs, long runs.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z0-9 ]{0,12}",
        1 => any::<String>(),
        1 => Just("\"".to_owned()),
        1 => Just("a,b;c\td".to_owned()),
        1 => Just("line\r\nbreak".to_owned()),
        1 => Just("\u{feff}id".to_owned()),
        1 => Just("x".repeat(1200)),
        1 => Just("2024-13-45".to_owned()),
        1 => Just("=HYPERLINK(\"http://x\")".to_owned()),
    ]
}

/// A CSV file: a header of real and odd column names, then rows of cells
/// (ragged on purpose), joined with a separator and line ending.
fn csv_file(columns: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let header = prop::collection::vec(
        prop_oneof![4 => prop::sample::select(columns).prop_map(str::to_owned), 1 => cell()],
        0..8,
    );
    let rows = prop::collection::vec(prop::collection::vec(cell(), 0..9), 0..6);
    let separator = prop::sample::select(vec![",", ";", "\t"]);
    let ending = prop::sample::select(vec!["\n", "\r\n", "\r"]);
    (header, rows, separator, ending, any::<bool>()).prop_map(|(header, rows, sep, end, bom)| {
        let quote = |c: &String| {
            if c.contains([',', ';', '\t', '"', '\n', '\r']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        };
        let mut text = if bom { "\u{feff}".to_owned() } else { String::new() };
        for row in std::iter::once(header).chain(rows) {
            text.push_str(&row.iter().map(quote).collect::<Vec<_>>().join(sep));
            text.push_str(end);
        }
        text.into_bytes()
    })
}

const STUDENTS: &[&str] = &[
    "id",
    "forename",
    "surname",
    "upn",
    "upi",
    "mis_id",
    "email",
    "year",
    "form",
    "classes",
    "leaving_date",
    "status",
];
const STAFF: &[&str] = &[
    "id",
    "forename",
    "surname",
    "upi",
    "mis_id",
    "title",
    "email",
    "forms",
    "classes",
    "employment_end",
    "status",
];
const GUARDIANS: &[&str] = &[
    "id",
    "surname",
    "student_id",
    "forename",
    "email",
    "relationship",
    "parental_responsibility",
    "lives_with_student",
    "priority",
];

#[test]
fn csv_files_of_any_shape_are_parsed_or_refused_without_panic() {
    let mut runner = TestRunner::new(Config { cases: 400, failure_persistence: None, ..Config::default() });
    let files = (
        prop::option::of(csv_file(STUDENTS)),
        prop::option::of(csv_file(STAFF)),
        prop::option::of(csv_file(GUARDIANS)),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
        any::<bool>(),
    );
    let today = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap_or_default();
    let outcome = runner.run(&files, |(students, staff, guardians, bytes, complete)| {
        let files = CsvFiles { students: students.or(bytes), staff, guardians };
        match csv_source::parse(&files, complete, today) {
            Ok(_) => {}
            Err(errors) => {
                prop_assert!(errors.len() <= csv_source::MAX_ERRORS + 1, "{} errors", errors.len())
            }
        }
        Ok(())
    });
    assert!(outcome.is_ok(), "{outcome:?}");
}

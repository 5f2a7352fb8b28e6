#![allow(clippy::unwrap_used)]

use chrono::NaiveDate;
use std::collections::BTreeSet;

use super::*;
use crate::sync::source::{MisGuardian, MisLink};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 10).unwrap()
}

fn students_only(text: &str) -> CsvFiles {
    CsvFiles { students: Some(text.as_bytes().to_vec()), ..CsvFiles::default() }
}

fn errors_of(files: &CsvFiles) -> Vec<CsvRowError> {
    match parse(files, true, today()) {
        Ok(batch) => panic!("expected errors, got a batch of {} students", batch.students.len()),
        Err(errors) => errors,
    }
}

/// (file, line, column) of each error, for compact assertions.
fn places(errors: &[CsvRowError]) -> Vec<(&'static str, u32, Option<&str>)> {
    errors.iter().map(|e| (e.file.as_str(), e.line, e.column.as_deref())).collect()
}

const STUDENTS: &str = "\
id,upn,upi,mis_id,forename,surname,email,year,form,classes,leaving_date,status
S1,A123,u1,m1,Amy,Smith,amy@pupils.example,Year 7,7A,7A/Ma1;7A/En1,,
S2,,,,Ben,Smith,,Year 7,7B,7A/Ma1,,active
S3,,,,Cal,Gone,,Year 8,8A,8A/Ma1,2025-03-10,
S4,,,,Dee,Paused,,Year 8,8A,,,Suspended
";

const STAFF: &str = "\
id,title,forename,surname,email,forms,classes,employment_end
T1,Ms,Tia,Teach,tia@staff.example,7A,7A/Ma1;7A/En1,
T2,Mr,Old,Hand,,8A,8A/Ma1,2025-03-09
T3,,New,Start,,,,2025-03-10
";

const GUARDIANS: &str = "\
id,title,forename,surname,email,student_id,relationship,parental_responsibility,lives_with_student,priority
G1,Mrs,Ann,Smith,ann@example.org,S1,Mother,yes,Y,1
G1,Mrs,Ann,Smith,ann@example.org,S2,Step-mother,no,0,2
G2,,,Gone,,S3,Father,,,
";

fn all_files() -> CsvFiles {
    CsvFiles {
        students: Some(STUDENTS.as_bytes().to_vec()),
        staff: Some(STAFF.as_bytes().to_vec()),
        guardians: Some(GUARDIANS.as_bytes().to_vec()),
    }
}

fn group(id: &str, name: &str, students: &[&str], staff: &[&str]) -> MisGroup {
    MisGroup {
        source_id: id.to_owned(),
        name: name.to_owned(),
        code: None,
        subject: None,
        students: students.iter().map(|s| (*s).to_owned()).collect(),
        staff: staff.iter().map(|s| (*s).to_owned()).collect(),
    }
}

#[test]
fn a_correct_import_becomes_the_expected_batch() {
    let batch = parse(&all_files(), true, today()).unwrap();
    assert!(batch.complete);
    assert_eq!(batch.types, DataTypes::ALL);
    assert_eq!(batch.memberships, Memberships::ByMember);
    assert!(batch.leavers.is_empty() && batch.deletions.is_empty());

    assert_eq!(batch.students.len(), 4);
    assert_eq!(
        batch.students[0],
        MisStudent {
            source_id: "S1".into(),
            upi: Some("u1".into()),
            mis_id: Some("m1".into()),
            upn: Some("A123".into()),
            forename: "Amy".into(),
            surname: "Smith".into(),
            email: Some("amy@pupils.example".into()),
            leaving_date: None,
            inactive_in_mis: false,
            year: Some("year:Year 7".into()),
            form: Some("form:7A".into()),
            groups_stated: true,
            classes: None,
        }
    );
    assert_eq!(batch.students[1].upi, None, "blank cells are None");
    assert_eq!(batch.students[2].leaving_date, NaiveDate::from_ymd_opt(2025, 3, 10));
    assert!(batch.students[3].inactive_in_mis, "status is case-insensitive");

    let staff: Vec<(&str, bool)> = batch.staff.iter().map(|s| (s.source_id.as_str(), s.current)).collect();
    assert_eq!(staff, vec![("T1", true), ("T2", false), ("T3", true)], "an end date today is still employed");
    assert_eq!(batch.staff[0].title.as_deref(), Some("Ms"));

    assert_eq!(batch.guardians.len(), 2, "a guardian with two children is one guardian");
    assert_eq!(
        batch.guardians[0],
        MisGuardian {
            source_id: "G1".into(),
            upi: None,
            mis_id: None,
            title: Some("Mrs".into()),
            forename: "Ann".into(),
            surname: "Smith".into(),
            email: Some("ann@example.org".into()),
            inactive_in_mis: false,
        }
    );
    assert_eq!(batch.guardians[1].forename, "", "a guardian's forename may be blank");
    assert_eq!(
        batch.links,
        vec![
            MisLink {
                student: "S1".into(),
                guardian: "G1".into(),
                relationship_label: Some("Mother".into()),
                parental_responsibility: Some(true),
                lives_with_student: Some(true),
                priority: Some(1),
            },
            MisLink {
                student: "S2".into(),
                guardian: "G1".into(),
                relationship_label: Some("Step-mother".into()),
                parental_responsibility: Some(false),
                lives_with_student: Some(false),
                priority: Some(2),
            },
            MisLink {
                student: "S3".into(),
                guardian: "G2".into(),
                relationship_label: Some("Father".into()),
                parental_responsibility: None,
                lives_with_student: None,
                priority: None,
            },
        ]
    );

    // Groups come from current rows only: Cal left today, Dee is
    // suspended, Mr Hand's employment ended yesterday.
    assert_eq!(batch.year_groups, vec![group("year:Year 7", "Year 7", &["S1", "S2"], &[])]);
    assert_eq!(
        batch.form_groups,
        vec![group("form:7A", "7A", &["S1"], &["T1"]), group("form:7B", "7B", &["S2"], &[])]
    );
    assert_eq!(
        batch.classes,
        vec![
            group("class:7A/En1", "7A/En1", &["S1"], &["T1"]),
            group("class:7A/Ma1", "7A/Ma1", &["S1", "S2"], &["T1"]),
        ]
    );
}

#[test]
fn types_cover_only_the_files_given() {
    let batch = parse(&students_only(STUDENTS), false, today()).unwrap();
    assert!(!batch.complete);
    assert_eq!(
        batch.types,
        DataTypes {
            students: true,
            staff: false,
            guardians: false,
            classes: true,
            year_groups: true,
            form_groups: true
        }
    );
    let staff = CsvFiles { staff: Some(STAFF.as_bytes().to_vec()), ..CsvFiles::default() };
    let batch = parse(&staff, true, today()).unwrap();
    assert_eq!(
        batch.types,
        DataTypes {
            students: false,
            staff: true,
            guardians: false,
            classes: true,
            year_groups: false,
            form_groups: true
        }
    );
    assert!(batch.year_groups.is_empty());
}

#[test]
fn group_columns_a_file_lacks_leave_their_memberships_unstated() {
    let files = CsvFiles {
        students: Some(b"id,forename,surname,classes\nS1,Amy,Smith,Ma1\n".to_vec()),
        staff: Some(b"id,forename,surname,forms\nT1,Tia,Teach,7A\n".to_vec()),
        guardians: None,
    };
    let batch = parse(&files, true, today()).unwrap();
    let unstated: BTreeSet<&str> = batch.unstated.memberships.iter().copied().collect();
    assert_eq!(unstated, BTreeSet::from(["year_student", "form_student", "class_teacher"]));
    let t = batch.types;
    assert_eq!((t.year_groups, t.form_groups, t.classes), (false, true, true));
    let files = CsvFiles { students: Some(b"id,forename,surname\nS1,Amy,Smith\n".to_vec()), ..files };
    let t = parse(&files, true, today()).unwrap().types;
    assert_eq!(
        (t.year_groups, t.form_groups, t.classes),
        (false, true, false),
        "tutors still speak for forms"
    );
    let full = parse(&students_only(STUDENTS), true, today()).unwrap();
    assert!(full.unstated.students.is_empty());
    let unstated: BTreeSet<&str> = full.unstated.memberships.iter().copied().collect();
    assert_eq!(unstated, BTreeSet::from(["form_tutor", "class_teacher"]), "no staff file");
}

#[test]
fn headers_match_by_name_in_any_order_and_case_with_a_bom_and_trimmed_cells() {
    let text = "\u{feff} Surname ,FORENAME,Id\r\n  Smith , Amy ,S1 \r\n\r\n,,\r\n";
    let batch = parse(&students_only(text), true, today()).unwrap();
    assert_eq!(batch.students.len(), 1, "blank rows are skipped");
    let amy = &batch.students[0];
    assert_eq!((amy.source_id.as_str(), amy.forename.as_str(), amy.surname.as_str()), ("S1", "Amy", "Smith"));
}

#[test]
fn a_missing_required_column_is_reported_on_the_header() {
    let errors = errors_of(&students_only("id,forename\nS1,Amy\n"));
    assert_eq!(places(&errors), vec![("students", 1, Some("surname"))]);
    assert!(errors[0].message.contains("required column"), "{}", errors[0]);
}

#[test]
fn unknown_and_repeated_columns_are_errors() {
    let errors =
        errors_of(&students_only("id,forename,surname,leaving_dat,ID\nS1,Amy,Smith,2020-01-01,S1\n"));
    assert_eq!(places(&errors), vec![("students", 1, Some("leaving_dat")), ("students", 1, Some("id"))]);
    assert!(errors[0].message.contains("leaving_date"), "lists the known columns: {}", errors[0]);
    assert!(errors[1].message.contains("twice"));
}

#[test]
fn a_missing_required_value_names_its_line_and_column() {
    let errors = errors_of(&students_only("id,forename,surname\nS1,Amy,Smith\nS2,,Jones\n,Cal,\n"));
    assert_eq!(
        places(&errors),
        vec![
            ("students", 3, Some("forename")),
            ("students", 4, Some("id")),
            ("students", 4, Some("surname"))
        ]
    );
    assert!(errors.iter().all(|e| e.message == "a value is required"));
}

#[test]
fn bad_dates_booleans_numbers_statuses_and_emails_are_errors() {
    let students = "id,forename,surname,leaving_date,status,email\n\
                    S1,Amy,Smith,2025/07/31,,\n\
                    S2,Ben,Smith,2025-02-30,gone,ben at home\n";
    let guardians = "id,surname,student_id,parental_responsibility,lives_with_student,priority\n\
                     G1,Smith,S1,maybe,yes,first\n";
    let files = CsvFiles {
        students: Some(students.as_bytes().to_vec()),
        guardians: Some(guardians.as_bytes().to_vec()),
        ..CsvFiles::default()
    };
    let errors = errors_of(&files);
    assert_eq!(
        places(&errors),
        vec![
            ("students", 2, Some("leaving_date")),
            ("students", 3, Some("email")),
            ("students", 3, Some("leaving_date")),
            ("students", 3, Some("status")),
            ("guardians", 2, Some("parental_responsibility")),
            ("guardians", 2, Some("priority")),
        ]
    );
    assert_eq!(errors[0].message, "`2025/07/31` is not a date; write dates as YYYY-MM-DD or DD/MM/YYYY");
    assert_eq!(errors[2].message, "`2025-02-30` is not a day of the calendar");
    assert!(errors[3].message.contains("suspended"), "{}", errors[3]);
    assert!(errors[4].message.contains("`maybe`"), "{}", errors[4]);
    assert!(errors[5].message.contains("whole number"), "{}", errors[5]);
    let staff = CsvFiles {
        staff: Some(b"id,forename,surname,employment_end\nT1,Tia,Teach,soon\n".to_vec()),
        ..CsvFiles::default()
    };
    assert_eq!(places(&errors_of(&staff)), vec![("staff", 2, Some("employment_end"))]);
}

#[test]
fn a_duplicate_id_or_upi_is_reported_on_the_later_line() {
    let errors = errors_of(&students_only(
        "id,upi,forename,surname\nS1,u1,Amy,Smith\nS2,u1,Ben,Smith\nS1,,Cal,Jones\n",
    ));
    assert_eq!(places(&errors), vec![("students", 3, Some("upi")), ("students", 4, Some("id"))]);
    assert_eq!(errors[1].message, "`S1` is already used on line 2; each id must be unique");
    let staff = CsvFiles {
        staff: Some(b"id,forename,surname\nT1,Tia,Teach\nT1,Tom,Teach\n".to_vec()),
        ..CsvFiles::default()
    };
    assert_eq!(places(&errors_of(&staff)), vec![("staff", 3, Some("id"))]);
}

#[test]
fn a_guardian_of_an_unknown_student_is_an_error() {
    let files = CsvFiles {
        students: Some(b"id,forename,surname\nS1,Amy,Smith\n".to_vec()),
        guardians: Some(b"id,surname,student_id\nG1,Smith,S1\nG1,Smith,S9\n".to_vec()),
        ..CsvFiles::default()
    };
    let errors = errors_of(&files);
    assert_eq!(places(&errors), vec![("guardians", 3, Some("student_id"))]);
    assert_eq!(errors[0].message, "no student with id `S9` in students.csv");
}

/// Seen in a trial: S1's row lacked a surname, and the guardian linked to
/// S1 was told "no student with id `S1`", though S1 is in the file.
#[test]
fn a_guardian_of_a_refused_student_row_is_told_so() {
    let files = CsvFiles {
        students: Some(b"id,forename,surname\nS1,Amy,\n".to_vec()),
        guardians: Some(b"id,surname,student_id\nG1,Smith,S1\n".to_vec()),
        ..CsvFiles::default()
    };
    let errors = errors_of(&files);
    assert_eq!(places(&errors), vec![("students", 2, Some("surname")), ("guardians", 2, Some("student_id"))]);
    assert_eq!(errors[1].message, "student `S1`'s row in students.csv has errors (above): fix it first");
}

#[test]
fn repeated_guardian_details_must_agree_and_links_not_repeat() {
    let files = CsvFiles {
        students: Some(b"id,forename,surname\nS1,Amy,Smith\nS2,Ben,Smith\n".to_vec()),
        guardians: Some(
            b"id,forename,surname,email,student_id\n\
              G1,Ann,Smith,ann@example.org,S1\n\
              G1,Ann,Smith,ann@elsewhere.org,S2\n\
              G1,Ann,Smith,ann@example.org,S1\n"
                .to_vec(),
        ),
        ..CsvFiles::default()
    };
    let errors = errors_of(&files);
    assert_eq!(places(&errors), vec![("guardians", 3, Some("email")), ("guardians", 4, Some("student_id"))]);
    assert!(errors[0].message.contains("differs here from line 2"), "{}", errors[0]);
    assert!(!errors[0].message.contains("elsewhere"), "the differing value is not echoed");
    assert_eq!(errors[1].message, "guardian `G1` is already linked to student `S1` on line 2");
}

#[test]
fn guardians_need_the_students_file() {
    let files =
        CsvFiles { guardians: Some(b"id,surname,student_id\nG1,Smith,S1\n".to_vec()), ..CsvFiles::default() };
    let errors = errors_of(&files);
    assert_eq!(places(&errors), vec![("guardians", 0, None)]);
    assert!(errors[0].message.contains("need students"), "{}", errors[0]);
}

#[test]
fn a_row_with_the_wrong_number_of_fields_is_an_error() {
    let errors = errors_of(&students_only("id,forename,surname\nS1,Amy\nS2,Ben,Smith\nS3,Cal,Jones,extra\n"));
    assert_eq!(places(&errors), vec![("students", 2, None), ("students", 4, None)]);
    let errors = errors_of(&students_only("id,forename,surname\nS1,Amy\n"));
    assert_eq!(places(&errors), vec![("students", 2, None)], "a file of bad rows is not an empty file");
    assert_eq!(errors[0].message, "this line has 2 fields but the header has 3");
}

#[test]
fn line_numbers_are_rows_as_a_spreadsheet_shows_them() {
    // A quoted cell holding a line break is one row in a spreadsheet.
    let text = "id,forename,surname,classes\nS1,Amy,Smith,\"Ma1;\nEn1\"\nS2,,Smith,\n";
    let errors = errors_of(&students_only(text));
    assert_eq!(places(&errors), vec![("students", 3, Some("forename"))]);
}

#[test]
fn a_file_that_is_not_utf8_names_the_line_of_its_first_bad_byte() {
    let mut bytes = b"id,forename,surname\nS1,Amy,Smith\nS2,Zo".to_vec();
    bytes.push(0xEB); // "ë" in Windows-1252
    bytes.extend_from_slice(b",Smith\n");
    let errors = errors_of(&CsvFiles { students: Some(bytes), ..CsvFiles::default() });
    assert_eq!(places(&errors), vec![("students", 3, None)]);
    assert!(errors[0].message.contains("UTF-8"), "{}", errors[0]);
}

#[test]
fn empty_and_header_only_files_are_errors() {
    for text in ["", "\u{feff}", " \n\n"] {
        let errors = errors_of(&students_only(text));
        assert_eq!(places(&errors), vec![("students", 1, None)], "{text:?}");
        assert!(errors[0].message.contains("empty"));
    }
    let errors = errors_of(&students_only("id,forename,surname\n"));
    assert_eq!(places(&errors), vec![("students", 2, None)]);
    assert!(errors[0].message.contains("no records"));
}

#[test]
fn an_oversized_file_is_refused_unread() {
    let mut bytes = b"id,forename,surname\n".to_vec();
    bytes.resize(MAX_FILE_BYTES + 1, b' ');
    let errors = errors_of(&CsvFiles { staff: Some(bytes), ..CsvFiles::default() });
    assert_eq!(places(&errors), vec![("staff", 0, None)]);
    assert!(errors[0].message.contains("20 MB"), "{}", errors[0]);
}

#[test]
fn an_overlong_cell_is_an_error() {
    let text = format!("id,forename,surname\nS1,{},Smith\n", "a".repeat(MAX_CELL_CHARS + 1));
    let errors = errors_of(&students_only(&text));
    assert_eq!(places(&errors), vec![("students", 2, Some("forename"))]);
}

#[test]
fn no_files_is_an_error() {
    let errors = errors_of(&CsvFiles::default());
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.contains("no file"));
}

#[test]
fn errors_stop_at_the_cap_and_count_the_rest() {
    let mut text = "id,forename,surname\n".to_owned();
    for i in 0..150 {
        text.push_str(&format!("S{i},,Smith\n"));
    }
    let errors = errors_of(&students_only(&text));
    assert_eq!(errors.len(), MAX_ERRORS + 1);
    assert_eq!(errors[MAX_ERRORS - 1].line, 101);
    let last = &errors[MAX_ERRORS];
    assert_eq!((last.line, last.column.as_deref()), (0, None));
    assert!(last.message.starts_with("50 more errors"), "{last}");
}

#[test]
fn errors_read_as_sentences() {
    let error = CsvRowError {
        file: CsvFile::Guardians,
        line: 7,
        column: Some("priority".into()),
        message: "`x` is not a whole number".into(),
    };
    assert_eq!(error.to_string(), "guardians.csv line 7, column priority: `x` is not a whole number");
    let whole = CsvRowError { line: 0, column: None, ..error };
    assert_eq!(whole.to_string(), "guardians.csv: `x` is not a whole number");
}

/// The same rows with each line ending Excel and others write.
fn with_endings(lf_text: &str) -> Vec<(&'static str, String)> {
    ["\n", "\r\n", "\r"].into_iter().map(|end| (end, lf_text.replace('\n', end))).collect()
}

#[test]
fn crlf_cr_and_lf_files_number_lines_alike() {
    // A bad first row is line 2, never the header; a blank line is a row.
    let text = "id,forename,surname\nS1,,Smith\nS2,Ben,Smith\n\nS3,Cal,\n";
    for (end, text) in with_endings(text) {
        let errors = errors_of(&students_only(&text));
        assert_eq!(
            places(&errors),
            vec![("students", 2, Some("forename")), ("students", 5, Some("surname"))],
            "{end:?}"
        );
    }
}

#[test]
fn lines_after_a_cell_spanning_lines_are_spreadsheet_rows_with_any_ending() {
    let text = "id,forename,surname,classes\nS1,Amy,Smith,\"Ma1;\nEn1\"\nS2,,Smith,\n";
    for (end, text) in with_endings(text) {
        let errors = errors_of(&students_only(&text));
        assert_eq!(places(&errors), vec![("students", 3, Some("forename"))], "{end:?}");
    }
}

#[test]
fn blank_lines_before_the_header_count() {
    for (end, text) in with_endings("\n\nid,forename,surname\nS1,,Smith\n") {
        let errors = errors_of(&students_only(&text));
        assert_eq!(places(&errors), vec![("students", 4, Some("forename"))], "{end:?}");
    }
}

#[test]
fn a_file_without_a_last_line_break_is_read() {
    let batch = parse(&students_only("id,forename,surname\r\nS1,Amy,Smith"), true, today()).unwrap();
    assert_eq!(batch.students.len(), 1);
}

#[test]
fn semicolon_and_tab_files_read_as_comma_files_do() {
    let comma = parse(&all_files(), true, today()).unwrap();
    for separator in [";", "\t"] {
        // Lists inside a cell are `;`-separated, so a `;` file quotes them.
        let convert = |text: &str| {
            let lines: Vec<String> = text
                .lines()
                .map(|line| {
                    line.split(',')
                        .map(|cell| if cell.contains(';') { format!("\"{cell}\"") } else { cell.to_owned() })
                        .collect::<Vec<_>>()
                        .join(separator)
                })
                .collect();
            (lines.join("\r\n") + "\r\n").into_bytes()
        };
        let files = CsvFiles {
            students: Some(convert(STUDENTS)),
            staff: Some(convert(STAFF)),
            guardians: Some(convert(GUARDIANS)),
        };
        let batch = parse(&files, true, today()).unwrap();
        assert_eq!(batch.students, comma.students, "{separator:?}");
        assert_eq!(batch.staff, comma.staff, "{separator:?}");
        assert_eq!(batch.links, comma.links, "{separator:?}");
        assert_eq!(batch.classes, comma.classes, "{separator:?}");
    }
}

#[test]
fn another_separator_is_refused_by_name() {
    for (text, found) in [
        ("id|forename|surname\nS1|Amy|Smith\n", "'|'"),
        ("\r\nid:forename:surname\r\nS1:Amy:Smith\r\n", "':'"),
    ] {
        let errors = errors_of(&students_only(text));
        let line = if text.starts_with('\r') { 2 } else { 1 };
        assert_eq!(places(&errors), vec![("students", line, None)], "{text:?}");
        assert_eq!(
            errors[0].message,
            format!("the header row is separated by {found}; use commas, semicolons or tabs")
        );
    }
    // A quoted header cell may hold anything.
    let batch = parse(&students_only("id,\"forename\",surname\nS1,\"A|B\",Smith\n"), true, today()).unwrap();
    assert_eq!(batch.students[0].forename, "A|B");
}

/// Seen in a trial: a quote left open said "this line has 2 fields but
/// the header has 3" and nothing of the quote, or of the lines it ate.
#[test]
fn a_quote_left_open_is_named_with_the_lines_it_swallowed() {
    let never = |next: &str| {
        format!(
            "a quote (\") on this line is never closed, so the lines after it were read into one cell (the next begins `{next}`); close or remove the quote"
        )
    };
    let errors =
        errors_of(&students_only("id,forename,surname\nS1,Amy,Smith\nS2,\"Ben,Smith\nS3,Cal,Jones\n"));
    assert_eq!(places(&errors), vec![("students", 3, None)]);
    assert_eq!(errors[0].message, never("S3,Cal,Jones"));
    // Without a line break at the end of the file, the same.
    let errors = errors_of(&students_only("id,forename,surname\nS1,Amy,Smith\nS2,\"Ben,Smith\nS3,Cal,Jones"));
    assert_eq!(errors[0].message, never("S3,Cal,Jones"));
    // Closed again by a later stray quote, the row too wide.
    let later = |next: &str| {
        format!(
            "a quote (\") on this line closes only lines later, so the lines after it were read into one cell (the next begins `{next}`); close or remove the quote"
        )
    };
    let errors =
        errors_of(&students_only("id,forename,surname\nS1,\"Amy,Smith\nS2,Ben\",Smith,x\nS3,Cal,Jones\n"));
    assert_eq!(places(&errors), vec![("students", 2, None)]);
    assert_eq!(errors[0].message, later("S2,Ben"));
    // A closed multi-line cell in a row too wide for another reason says
    // nothing of quotes.
    let errors = errors_of(&students_only("id,forename,surname\nS1,\"Amy\nJane\",Smith,extra\n"));
    assert_eq!(errors[0].message, "this line has 4 fields but the header has 3");
    // A quoted line break in a row of the right width is a real cell.
    let batch = parse(&students_only("id,forename,surname\nS1,\"Amy\nJane\",Smith\n"), true, today());
    assert!(batch.is_ok(), "{batch:?}");
}

/// Seen in a trial: a stray quote closed lines later left the row the
/// header's width; S3 and S4 vanished into S2's forename and a `--full`
/// import took them off roll. An open quote in the last column swallowed
/// the next pupil into a year group's name. Both are refused now.
#[test]
fn swallowed_lines_are_refused_whatever_the_width() {
    let text = "id,forename,surname,year\nS1,Amy,Smith,Year 3\nS2,\"Ben,Smith,Year 3\nS3,Cara,Jones,Year 3\nS4,Dan\",Smith,Year 3\nS5,Eve,Brown,Year 3\n";
    let errors = errors_of(&students_only(text));
    assert_eq!(places(&errors), vec![("students", 3, None)]);
    assert!(
        errors[0].message.contains("closes only lines later")
            && errors[0].message.contains("`S3,Cara,Jones,Year 3`"),
        "{}",
        errors[0]
    );
    let text = "id,forename,surname,year\nS1,Amy,Smith,Year 3\nS5,Eve,Brown,\"Year 3\nS6,Fay,Green,Year 3\n";
    let errors = errors_of(&students_only(text));
    assert_eq!(places(&errors), vec![("students", 3, None)]);
    assert!(errors[0].message.contains("is never closed"), "{}", errors[0]);
}

#[test]
fn trailing_empty_columns_are_ignored() {
    // Excel writes a comma per column that once held something, and after
    // some rows may write fewer of them.
    let text = "id,forename,surname,,,\nS1,Amy,Smith,,,\nS2,Ben,Smith\nS3,Cal,Jones,, ,\n";
    let batch = parse(&students_only(text), true, today()).unwrap();
    assert_eq!(batch.students.len(), 3);
    // A value past the last named column is not empty: an error.
    let errors = errors_of(&students_only("id,forename,surname,,\nS1,Amy,Smith,,x\n"));
    assert_eq!(places(&errors), vec![("students", 2, None)]);
    assert_eq!(errors[0].message, "this line has 5 fields but the header has 3");
    // A blank column name between named ones is still an error.
    let errors = errors_of(&students_only("id,,forename,surname\nS1,,Amy,Smith\n"));
    assert_eq!(places(&errors), vec![("students", 1, None)]);
}

#[test]
fn dates_are_iso_or_uk_day_first() {
    use table::{DateError, parse_date};
    let day = |y, m, d| Ok(NaiveDate::from_ymd_opt(y, m, d).unwrap());
    for (text, expected) in [
        ("2026-04-03", day(2026, 4, 3)),
        ("03/04/2026", day(2026, 4, 3)),
        ("3/4/2026", day(2026, 4, 3)),
        ("31/12/2025", day(2025, 12, 31)),
        ("29/02/2024", day(2024, 2, 29)),
        ("31/02/2026", Err(DateError::NoSuchDay)),
        ("04/13/2026", Err(DateError::NoSuchDay)),
        ("2026-02-30", Err(DateError::NoSuchDay)),
        ("2026/13/01", Err(DateError::NotADate)),
        ("2026/04/03", Err(DateError::NotADate)),
        ("03/04/26", Err(DateError::NotADate)),
        ("03-04-2026", Err(DateError::NotADate)),
        ("2026-04-03 00:00", Err(DateError::NotADate)),
        ("03/04-2026", Err(DateError::NotADate)),
        ("+2026-04-03", Err(DateError::NotADate)),
        ("next week", Err(DateError::NotADate)),
    ] {
        assert_eq!(parse_date(text), expected, "{text}");
    }
}

#[test]
fn a_uk_date_makes_a_leaver_and_a_bad_one_names_its_place() {
    let text = "id,forename,surname,leaving_date\r\nS1,Amy,Smith,10/03/2025\r\nS2,Ben,Smith,11/03/2025\r\n";
    let batch = parse(&students_only(text), true, today()).unwrap();
    assert_eq!(batch.students[0].leaving_date, NaiveDate::from_ymd_opt(2025, 3, 10));
    assert_eq!(batch.students[1].leaving_date, NaiveDate::from_ymd_opt(2025, 3, 11));
    let errors = errors_of(&students_only("id,forename,surname,leaving_date\r\nS1,Amy,Smith,31/02/2025\r\n"));
    assert_eq!(places(&errors), vec![("students", 2, Some("leaving_date"))]);
    let staff = CsvFiles {
        staff: Some(b"id;forename;surname;employment_end\r\nT1;Tia;Teach;next week\r\n".to_vec()),
        ..CsvFiles::default()
    };
    assert_eq!(places(&errors_of(&staff)), vec![("staff", 2, Some("employment_end"))]);
}

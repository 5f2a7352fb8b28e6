//! One CSV file read into rows of named cells, and the cell parsers. Every
//! problem becomes a [`CsvRowError`] on the line a spreadsheet shows, and
//! reading goes on, so one upload reports all its mistakes at once.
//!
//! Files come as Excel writes them: with or without a byte-order mark; lines
//! ended by CRLF, LF or a lone CR; separated by commas, or by semicolons or
//! tabs (Excel in locales whose decimal mark is a comma, and "Text (Tab
//! delimited)"), the separator taken from the header row; and with trailing
//! empty columns, which are ignored.

use chrono::NaiveDate;
use std::collections::HashSet;

use super::{CsvFile, CsvRowError, MAX_CELL_CHARS, MAX_ERRORS, MAX_FILE_BYTES};

/// A column of a file format, found by its header.
pub(super) struct Column {
    pub name: &'static str,
    pub required: bool,
}

pub(super) const fn required(name: &'static str) -> Column {
    Column { name, required: true }
}

pub(super) const fn optional(name: &'static str) -> Column {
    Column { name, required: false }
}

/// The errors of one import: the first [`MAX_ERRORS`] kept, the rest counted.
#[derive(Debug, Default)]
pub(super) struct Errors {
    kept: Vec<CsvRowError>,
    more: usize,
}

impl Errors {
    pub fn add(&mut self, file: CsvFile, line: u32, column: Option<&str>, message: impl Into<String>) {
        if self.kept.len() < MAX_ERRORS {
            self.kept.push(CsvRowError {
                file,
                line,
                column: column.map(str::to_owned),
                message: message.into(),
            });
        } else {
            self.more += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// The errors, with a last one saying how many more were not listed.
    pub fn into_vec(self) -> Vec<CsvRowError> {
        let mut errors = self.kept;
        if self.more > 0
            && let Some(last) = errors.last()
        {
            let file = last.file;
            errors.push(CsvRowError {
                file,
                line: 0,
                column: None,
                message: format!(
                    "{} not listed: only the first {MAX_ERRORS} are; fix these and import again",
                    match self.more {
                        1 => "1 more error is".to_owned(),
                        n => format!("{n} more errors are"),
                    }
                ),
            });
        }
        errors
    }
}

/// A data row: its line, and its cells in the format's column order (empty
/// for a column the file does not have).
pub(super) struct Row {
    pub line: u32,
    cells: Vec<String>,
}

/// A file read against its format.
pub(super) struct Table {
    pub file: CsvFile,
    columns: &'static [Column],
    pub rows: Vec<Row>,
    /// The format's columns the header does not name: the file says
    /// nothing of them (a blank cell, by contrast, says "none").
    pub absent: Vec<&'static str>,
}

/// Reads `bytes` as a file of `columns`. `None` when the file cannot be
/// read as rows at all (too big, not UTF-8, empty, or a header that does not
/// fit the format): its errors are in `errors`.
pub(super) fn read(
    file: CsvFile,
    bytes: &[u8],
    columns: &'static [Column],
    errors: &mut Errors,
) -> Option<Table> {
    if bytes.len() > MAX_FILE_BYTES {
        errors.add(
            file,
            0,
            None,
            format!(
                "the file is larger than {} MB; split it or remove columns",
                MAX_FILE_BYTES / (1024 * 1024)
            ),
        );
        return None;
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let valid = &bytes[..err.valid_up_to()];
            let line = u32::try_from(line_breaks(valid) + 1).unwrap_or(u32::MAX);
            errors.add(
                file,
                line,
                None,
                "the file is not UTF-8 text (this line holds the first character that is not); \
                 save it as \"CSV UTF-8\"",
            );
            return None;
        }
    };
    if text.trim().is_empty() {
        errors.add(file, 1, None, "the file is empty: it needs a header line, then one line per record");
        return None;
    }
    // The reader skips blank lines before the header; so does the search.
    let header_start = text.bytes().take_while(|b| matches!(b, b'\r' | b'\n')).count();
    let separator = match separator(&text[header_start..]) {
        Ok(separator) => separator,
        Err(found) => {
            let line = Lines::new(text).line_at(header_start);
            errors.add(
                file,
                line,
                None,
                format!("the header row is separated by {found}; use commas, semicolons or tabs"),
            );
            return None;
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(separator)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let mut lines = Lines::new(text);
    let header = match records.next() {
        Some(Ok(header)) => header,
        Some(Err(err)) => {
            errors.add(file, lines.of_error(&err), None, "the header line cannot be read as CSV");
            return None;
        }
        None => {
            errors.add(file, 1, None, "the file is empty: it needs a header line, then one line per record");
            return None;
        }
    };
    let header_line = lines.of(&header);
    let positions = header_positions(file, header_line, &header, columns, errors)?;
    let absent = columns
        .iter()
        .enumerate()
        .filter(|(index, _)| !positions.contains(&Some(*index)))
        .map(|(_, column)| column.name)
        .collect();
    let mut table = Table { file, columns, rows: Vec::new(), absent };
    let mut any_record = false;
    for record in records {
        let record = match record {
            Ok(record) => record,
            Err(err) => {
                errors.add(file, lines.of_error(&err), None, "this line cannot be read as CSV");
                // The reader cannot be trusted past an error of its own.
                return None;
            }
        };
        let line = lines.of(&record);
        if record.iter().all(|cell| cell.trim().is_empty()) {
            // Spreadsheets export rows that once held something as commas.
            continue;
        }
        any_record = true;
        // Excel ends rows with empty fields for columns that once held
        // something: past the header's last name, empty fields are no fields.
        // A stray quote swallows the lines after it into one cell. The row
        // may still have the header's width, and then the pupils on those
        // lines would silently be missing (and, in a `--full` import,
        // taken off roll): refused whatever the width.
        if let Some(hint) = swallowed(&record, char::from(separator), text) {
            errors.add(file, line, None, hint);
            continue;
        }
        let last_filled = filled_width(&record);
        let fields = last_filled.max(positions.len().min(record.len()));
        if fields != positions.len() {
            errors.add(
                file,
                line,
                None,
                format!("this line has {fields} fields but the header has {}", positions.len()),
            );
            continue;
        }
        let mut cells = vec![String::new(); columns.len()];
        for (cell, position) in record.iter().zip(&positions) {
            let Some(index) = *position else { continue };
            let cell = cell.trim();
            if cell.chars().count() > MAX_CELL_CHARS {
                errors.add(
                    file,
                    line,
                    Some(columns[index].name),
                    format!("the value is longer than {MAX_CELL_CHARS} characters"),
                );
            }
            cell.clone_into(&mut cells[index]);
        }
        table.rows.push(Row { line, cells });
    }
    if !any_record {
        errors.add(file, header_line + 1, None, "the file has a header but no records below it");
        return None;
    }
    Some(table)
}

/// Which format column each field of the header is (`None`: no column of
/// ours); `None` when the header is wrong.
fn header_positions(
    file: CsvFile,
    line: u32,
    header: &csv::StringRecord,
    columns: &'static [Column],
    errors: &mut Errors,
) -> Option<Vec<Option<usize>>> {
    let named = filled_width(header);
    let mut positions = Vec::with_capacity(named);
    let mut seen = HashSet::new();
    let mut wrong = false;
    for (number, name) in header.iter().take(named).enumerate() {
        let name = name.trim().to_lowercase();
        if name.is_empty() {
            errors.add(file, line, None, format!("field {} of the header has no column name", number + 1));
            wrong = true;
            positions.push(None);
            continue;
        }
        match columns.iter().position(|c| c.name == name) {
            Some(index) if !seen.insert(index) => {
                errors.add(file, line, Some(&name), "this column appears twice in the header");
                wrong = true;
                positions.push(None);
            }
            Some(index) => positions.push(Some(index)),
            None => {
                // A misspelt optional column (`leaving_dat`) would silently
                // keep leavers on roll: an unknown column is an error.
                let known: Vec<&str> = columns.iter().map(|c| c.name).collect();
                errors.add(
                    file,
                    line,
                    Some(&name),
                    format!("unknown column; {}.csv has: {}", file.as_str(), known.join(", ")),
                );
                wrong = true;
                positions.push(None);
            }
        }
    }
    for (index, column) in columns.iter().enumerate() {
        if column.required && !seen.contains(&index) {
            errors.add(file, line, Some(column.name), "required column missing from the header");
            wrong = true;
        }
    }
    (!wrong).then_some(positions)
}

/// The separator of a file, from its header row (up to its first line
/// break outside quotes): the most frequent of comma, semicolon and tab (a
/// stray one inside a misspelt column name does not decide it).
/// A header with none of them but another separator-like character (`|`,
/// `:`...) is refused: `Err` names what was found.
fn separator(text: &str) -> Result<u8, String> {
    let mut quoted = false;
    let mut counts: Vec<(char, usize)> = Vec::new();
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '\r' | '\n' if !quoted => break,
            _ if quoted => {}
            c if c == ',' || c == ';' || c == '\t' || separator_like(c) => {
                match counts.iter_mut().find(|(seen, _)| *seen == c) {
                    Some((_, count)) => *count += 1,
                    None => counts.push((c, 1)),
                }
            }
            _ => {}
        }
    }
    let most = |accepted: bool| {
        counts
            .iter()
            .filter(|(c, _)| matches!(c, ',' | ';' | '\t') == accepted)
            // Ties go to the first seen: `max_by_key` keeps the last.
            .rev()
            .max_by_key(|(_, count)| *count)
            .map(|(c, _)| *c)
    };
    match (most(true), most(false)) {
        (Some(c), _) => u8::try_from(c).map_err(|_| format!("'{c}'")),
        (None, Some(c)) => Err(format!("'{c}'")),
        // One column, or none: the header's own errors say what is wrong.
        (None, None) => Ok(b','),
    }
}

/// Punctuation that separates fields in some exports, and never appears in
/// our column names.
fn separator_like(c: char) -> bool {
    c.is_ascii_punctuation() && !matches!(c, '_' | '-' | '.' | '\'' | '(' | ')' | '[' | ']')
}

/// Line numbers as a spreadsheet shows them: the line a record starts on,
/// counting CRLF, LF and a lone CR each as one line break, less the breaks
/// inside quoted cells of earlier records (a spreadsheet shows such a
/// record as one row). Blank lines count, as they show as rows.
struct Lines<'a> {
    text: &'a [u8],
    /// Where counting has reached: the start of the last record seen.
    scanned: usize,
    /// Line breaks before `scanned`.
    breaks: u64,
    /// Line breaks inside the cells of records before `scanned`.
    inside_cells: u64,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Self { text: text.as_bytes(), scanned: 0, breaks: 0, inside_cells: 0 }
    }

    fn of(&mut self, record: &csv::StringRecord) -> u32 {
        let start = self.start_of(record.position());
        self.breaks += line_breaks(&self.text[self.scanned..start]);
        self.scanned = start;
        let line = self.breaks + 1 - self.inside_cells;
        self.inside_cells += record.iter().map(|cell| line_breaks(cell.as_bytes())).sum::<u64>();
        u32::try_from(line).unwrap_or(u32::MAX)
    }

    fn of_error(&self, err: &csv::Error) -> u32 {
        let start = self.start_of(err.position());
        let breaks = self.breaks + line_breaks(&self.text[self.scanned.min(start)..start]);
        u32::try_from((breaks + 1).saturating_sub(self.inside_cells)).unwrap_or(u32::MAX)
    }

    /// The line of a byte offset, by physical lines.
    fn line_at(&self, offset: usize) -> u32 {
        let end = offset.min(self.text.len());
        u32::try_from(line_breaks(&self.text[..end]) + 1).unwrap_or(u32::MAX)
    }

    /// Where a record's first field starts. The reader's position is where
    /// it began reading: after the last byte of the previous record's line
    /// ending (so before the LF of a CRLF) and before any blank lines, which
    /// it skips; a record never starts with a line break.
    fn start_of(&self, position: Option<&csv::Position>) -> usize {
        let from = position.map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX));
        let from = from.clamp(self.scanned, self.text.len());
        let blank = self.text[from..].iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
        from + blank
    }
}

/// Why `record` looks like lines swallowed by a stray quote, if it does: a
/// cell holds a line break with the separator after it (a line of the
/// file, not a name or a date: no cell of these formats holds that), or
/// holds a line break while a quote is left open from this record to the
/// end of the file. The lines are named by what the next one begins with:
/// a spreadsheet and a text editor number them differently.
fn swallowed(record: &csv::StringRecord, separator: char, text: &str) -> Option<String> {
    // Nearly every record holds no line break: only those pay for reading
    // the rest of the file (every record reading it was quadratic).
    record.iter().find(|cell| cell.contains('\n'))?;
    let start = record.position().map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX));
    let open_to_the_end = text.get(start..).unwrap_or_default().matches('"').count() % 2 == 1;
    let cell = record.iter().find(|cell| {
        cell.split_once('\n').is_some_and(|(_, after)| open_to_the_end || after.contains(separator))
    })?;
    let next = cell.split_once('\n').map_or("", |(_, after)| after).lines().next().unwrap_or_default();
    let how = if open_to_the_end { "is never closed" } else { "closes only lines later" };
    Some(format!(
        "a quote (\") on this line {how}, so the lines after it were read into one cell (the next begins {}); close or remove the quote",
        shown(next.trim())
    ))
}

/// The fields of a record up to its last non-blank one.
fn filled_width(record: &csv::StringRecord) -> usize {
    (0..record.len()).rev().find(|&i| !record[i].trim().is_empty()).map_or(0, |i| i + 1)
}

/// Line breaks in `bytes`: each CRLF, LF and lone CR once.
fn line_breaks(bytes: &[u8]) -> u64 {
    let lf = bytes.iter().filter(|b| **b == b'\n').count();
    let lone_cr =
        bytes.iter().enumerate().filter(|(i, b)| **b == b'\r' && bytes.get(i + 1) != Some(&b'\n')).count();
    (lf + lone_cr) as u64
}

impl Table {
    /// The cells of `row`, with typed readers that record errors.
    pub fn cells<'a>(&'a self, row: &'a Row, errors: &'a mut Errors) -> Cells<'a> {
        Cells { file: self.file, columns: self.columns, row, errors }
    }
}

/// Typed access to one row's cells.
pub(super) struct Cells<'a> {
    file: CsvFile,
    columns: &'static [Column],
    row: &'a Row,
    errors: &'a mut Errors,
}

impl Cells<'_> {
    pub fn line(&self) -> u32 {
        self.row.line
    }

    fn raw(&self, name: &str) -> &str {
        self.columns.iter().position(|c| c.name == name).map_or("", |i| self.row.cells[i].as_str())
    }

    pub fn error(&mut self, column: &str, message: impl Into<String>) {
        self.errors.add(self.file, self.row.line, Some(column), message);
    }

    /// The value, `None` when blank.
    pub fn text(&self, name: &str) -> Option<String> {
        Some(self.raw(name)).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    /// The value; blank is an error.
    pub fn required(&mut self, name: &str) -> Option<String> {
        let value = self.text(name);
        if value.is_none() {
            self.error(name, "a value is required");
        }
        value
    }

    /// An email address, cleaned as every source's are
    /// ([`crate::sync::source::clean_email`]); one with no `@` or with
    /// whitespace inside is an error.
    pub fn email(&mut self, name: &str) -> Option<String> {
        let value = crate::sync::source::clean_email(self.text(name).as_deref())?;
        if !value.contains('@') || value.chars().any(char::is_whitespace) {
            self.error(name, "not an email address");
            return None;
        }
        Some(value)
    }

    /// A date, as [`parse_date`] reads it; anything else is an error, never
    /// a guess, since a wrong date makes a wrong leaver.
    pub fn date(&mut self, name: &str) -> Option<NaiveDate> {
        let value = self.text(name)?;
        match parse_date(&value) {
            Ok(date) => Some(date),
            Err(DateError::NotADate) => {
                let message =
                    format!("{} is not a date; write dates as YYYY-MM-DD or DD/MM/YYYY", shown(&value));
                self.error(name, message);
                None
            }
            Err(DateError::NoSuchDay) => {
                let message = format!("{} is not a day of the calendar", shown(&value));
                self.error(name, message);
                None
            }
        }
    }

    /// yes/no, true/false, y/n or 1/0; blank is unknown.
    pub fn boolean(&mut self, name: &str) -> Option<bool> {
        let value = self.text(name)?;
        match value.to_lowercase().as_str() {
            "yes" | "y" | "true" | "1" => Some(true),
            "no" | "n" | "false" | "0" => Some(false),
            _ => {
                let message = format!("{} is not yes or no (also true/false, 1/0)", shown(&value));
                self.error(name, message);
                None
            }
        }
    }

    pub fn int(&mut self, name: &str) -> Option<i32> {
        let value = self.text(name)?;
        match value.parse::<i32>() {
            Ok(number) => Some(number),
            Err(_) => {
                let message = format!("{} is not a whole number", shown(&value));
                self.error(name, message);
                None
            }
        }
    }

    /// A `;`-separated list: items trimmed, blanks and repeats dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        let mut seen = HashSet::new();
        self.raw(name)
            .split(';')
            .map(str::trim)
            .filter(|item| !item.is_empty() && seen.insert(*item))
            .map(str::to_owned)
            .collect()
    }

    /// Whether the `status` column marks the record suspended or archived.
    pub fn inactive(&mut self, name: &str) -> bool {
        let Some(value) = self.text(name) else { return false };
        match value.to_lowercase().as_str() {
            "active" => false,
            "suspended" | "archived" => true,
            _ => {
                let message = format!(
                    "{} is not a status: leave it blank, or write active, suspended or archived",
                    shown(&value)
                );
                self.error(name, message);
                false
            }
        }
    }
}

/// Why a cell is not a date.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum DateError {
    /// Not written as YYYY-MM-DD or DD/MM/YYYY.
    NotADate,
    /// Written so, but no such day (31/02/2026).
    NoSuchDay,
}

/// A date written `YYYY-MM-DD` (ISO 8601, as exports write it) or
/// `DD/MM/YYYY` (as Excel shows and saves dates in the UK). Day and month
/// may have one digit (`3/4/2026`, as typed); the year has four. Slashes are
/// always day first, never US month first: `03/04/2026` is 3 April.
/// Everything else is refused: two-digit years, `YYYY/MM/DD`, times,
/// words.
pub(super) fn parse_date(value: &str) -> Result<NaiveDate, DateError> {
    let number = |part: &str, digits: std::ops::RangeInclusive<usize>| {
        (digits.contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<u32>().ok())
            .flatten()
    };
    let parts: Vec<&str> = value.split(['-', '/']).collect();
    let (year, month, day) = match parts.as_slice() {
        [y, m, d] if !value.contains('/') => (number(y, 4..=4), number(m, 1..=2), number(d, 1..=2)),
        [d, m, y] if !value.contains('-') => (number(y, 4..=4), number(m, 1..=2), number(d, 1..=2)),
        _ => return Err(DateError::NotADate),
    };
    let (Some(year), Some(month), Some(day)) = (year, month, day) else { return Err(DateError::NotADate) };
    let year = i32::try_from(year).map_err(|_| DateError::NotADate)?;
    NaiveDate::from_ymd_opt(year, month, day).ok_or(DateError::NoSuchDay)
}

/// A cell's value quoted for an error message, cut short: errors name the
/// wrong value, never a whole row.
fn shown(value: &str) -> String {
    const MAX: usize = 40;
    if value.chars().count() <= MAX {
        format!("`{value}`")
    } else {
        format!("`{}...`", value.chars().take(MAX).collect::<String>())
    }
}

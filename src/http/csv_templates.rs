//! GET /csv/templates/{students,staff,guardians}.csv: blank CSV files with
//! every column's header, for a school office to fill in and send to
//! `importCsv` (or `onroll import-csv`). Formats: docs/csv-formats.md.
//! Public: a header row holds no data.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::sync::csv_source::CsvFile;

/// The template named `{kind}.csv`, or 404 naming the three there are.
pub async fn template(Path(file): Path<String>) -> Response {
    let kind = file.strip_suffix(".csv").and_then(CsvFile::from_name);
    match kind {
        Some(kind) => {
            let disposition = format!("attachment; filename=\"{}.csv\"", kind.as_str());
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                kind.template(),
            )
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "templates: students.csv, staff.csv, guardians.csv").into_response(),
    }
}

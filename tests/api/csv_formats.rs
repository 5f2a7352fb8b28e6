//! The CSV formats as docs/csv-formats.md shows them, and the blank
//! templates the server hands out: the documented examples import as they
//! are, and each template is exactly the format's header row.

use serde_json::json;

use crate::csv_upload::{IMPORT_ALL, send};
use crate::on_both_engines;
use crate::support::{Engine, TestApp};

on_both_engines!(documented_examples_import_and_templates_match_the_format);

const DOC: &str = include_str!("../../docs/csv-formats.md");

/// The fenced block "```csv NAME" of the docs page.
fn example(name: &str) -> anyhow::Result<String> {
    let fence = format!("```csv {name}\n");
    let start =
        DOC.find(&fence).ok_or_else(|| anyhow::anyhow!("docs/csv-formats.md has no {name} example"))?;
    let body = &DOC[start + fence.len()..];
    let end = body.find("```").ok_or_else(|| anyhow::anyhow!("the {name} example is not closed"))?;
    Ok(body[..end].to_owned())
}

async fn documented_examples_import_and_templates_match_the_format(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;

    // The templates: public, CSV, one header row naming the format's columns.
    for kind in onroll::sync::csv_source::CsvFile::ALL {
        let answer = app.http.get(app.url(&format!("/csv/templates/{}.csv", kind.as_str()))).send().await?;
        assert_eq!(answer.status(), 200, "{kind}");
        let content_type = answer.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(content_type.starts_with("text/csv"), "{kind}: {content_type}");
        let text = answer.text().await?;
        assert_eq!(text, kind.template(), "{kind}");
        assert_eq!(text.lines().count(), 1, "{kind}: {text}");
        // Every column the documented example uses is in the template.
        let header = example(&format!("{}.csv", kind.as_str()))?;
        let header = header.lines().next().unwrap_or_default();
        let template: Vec<&str> = text.trim_end().split(',').collect();
        for column in header.split(',') {
            assert!(
                template.contains(&column),
                "{kind}: the docs use `{column}`, the template has {template:?}"
            );
        }
    }
    let missing = app.http.get(app.url("/csv/templates/pupils.csv")).send().await?;
    assert_eq!(missing.status(), 404);

    // The documented examples import as they are, through the API.
    let school = crate::csv_upload::create_csv_school(&app, &s, "Docs Example School").await?;
    let files = [
        ("students", example("students.csv")?),
        ("staff", example("staff.csv")?),
        ("guardians", example("guardians.csv")?),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(v, c)| (*v, c.as_str())).collect();
    let answer = send(&app, &s.trust_admin, IMPORT_ALL, json!({ "s": school }), &files).await?;
    let import = &answer["data"]["importCsv"];
    assert_eq!(import["errors"], json!([]), "{answer}");
    assert_eq!(import["run"]["status"], "COMPLETED", "{answer}");
    // Cara's leaving date has passed: she and her only guardian are not
    // brought in as active accounts.
    assert_eq!(import["run"]["students"]["created"], 2, "{answer}");
    assert_eq!(import["run"]["staff"]["created"], 2, "{answer}");
    assert_eq!(import["run"]["guardians"]["created"], 1, "{answer}");
    Ok(())
}

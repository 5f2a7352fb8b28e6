//! The house's floors (ARCHITECTURE.md): a room uses those below it, never
//! those above. `error.rs` is the ground floor; `graphql` sits below
//! `http`, which sits below `server` and `cli`. A `use` the wrong way would
//! tie the floors into a circle again.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Lines of `files` (comments aside) that name any of `above`.
fn upward(files: &[PathBuf], above: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if above.iter().any(|room| code.contains(room)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, code));
            }
        }
    }
    found
}

#[test]
fn rooms_use_only_the_floors_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = |names: &[&str]| {
        let mut out = Vec::new();
        for name in names {
            let path = src.join(name);
            if path.is_dir() {
                rust_files(&path, &mut out);
            } else {
                out.push(path);
            }
        }
        out
    };
    let mut wrong = upward(&files(&["error.rs"]), &["crate::"]);
    wrong.extend(upward(&files(&["graphql", "graphql.rs"]), &["crate::http", "crate::server", "crate::cli"]));
    wrong.extend(upward(&files(&["http", "http.rs"]), &["crate::server", "crate::cli"]));
    wrong.extend(upward(
        &files(&["sync", "sync.rs"]),
        &["crate::graphql", "crate::http", "crate::server", "crate::cli"],
    ));
    assert!(wrong.is_empty(), "uses of a floor above: {wrong:#?}");
}

/// The most lines a module may have: past it, a file holds more than one
/// job and is split along its seams (issue 16). Test modules may be longer.
const MOST_LINES: usize = 600;

#[test]
fn no_module_is_over_600_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "wonde-sim/src", "entity", "migration"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 100, "the crates' sources were not found under {}", root.display());
    let is_test = |path: &Path| {
        let inside = path.strip_prefix(root).unwrap_or(path);
        inside.file_name().is_some_and(|n| n == "tests.rs")
            || inside.components().any(|c| c.as_os_str() == "tests")
    };
    let mut long: Vec<String> = files
        .iter()
        .filter(|path| !is_test(path))
        .filter_map(|path| {
            let lines = std::fs::read_to_string(path).unwrap_or_default().lines().count();
            (lines > MOST_LINES).then(|| format!("{} ({lines} lines)", path.display()))
        })
        .collect();
    long.sort();
    assert!(long.is_empty(), "modules over {MOST_LINES} lines, to split: {long:#?}");
}

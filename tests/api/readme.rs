//! README as a newcomer reads it: every `cargo run` builds the same way
//! (`--release`, so no command rebuilds what another just built), every
//! link inside the repository leads somewhere, and nothing points outside
//! it.

const README: &str = include_str!("../../README.md");

#[test]
fn every_cargo_run_is_release() {
    let plain: Vec<&str> =
        README.lines().filter(|line| line.contains("cargo run") && !line.contains("--release")).collect();
    assert!(plain.is_empty(), "README runs without --release: {plain:#?}");
}

#[test]
fn links_inside_the_repository_resolve() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut broken = Vec::new();
    for piece in README.split("](").skip(1) {
        let target = piece.split(')').next().unwrap_or_default();
        if target.starts_with("http") || target.starts_with('#') {
            continue;
        }
        let path = target.split('#').next().unwrap_or_default();
        if !root.join(path).exists() {
            broken.push(target.to_owned());
        }
    }
    assert!(broken.is_empty(), "README links to missing files: {broken:?}");
    assert!(!README.contains("../shared"), "README points outside the repository");
}

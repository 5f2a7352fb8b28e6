//! Compiles the PostgreSQL half of the test suite in only when
//! `ONROLL_TEST_DATABASE_URL` names a server: without it, those tests are
//! listed as ignored, with the reason, where `cargo test` shows it, instead
//! of passing silently.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(postgres_suite)");
    println!("cargo::rerun-if-env-changed=ONROLL_TEST_DATABASE_URL");
    if std::env::var("ONROLL_TEST_DATABASE_URL").is_ok_and(|url| !url.trim().is_empty()) {
        println!("cargo::rustc-cfg=postgres_suite");
    }
}

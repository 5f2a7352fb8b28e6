//! The simulated Wonde of one school, as most simulator tests start, and
//! clients for it that give up quickly.

use onroll::wonde::{RetryPolicy, WondeClient, WondeConfig};
use std::time::Duration;
use wonde_sim::{SimConfig, SimHandle, SimSchool, Simulator};

use super::fixture::Scenario;
use super::{Engine, TestApp};

/// A simulator built from `config` with its `schools` set to 1, and that
/// school.
pub async fn one_school(config: SimConfig) -> anyhow::Result<(SimHandle, SimSchool)> {
    let sim = Simulator::start(SimConfig { schools: 1, ..config }).await?;
    let school = sim.schools().into_iter().next().ok_or_else(|| anyhow::anyhow!("no school"))?;
    Ok((sim, school))
}

/// A simulator of one school of `students` pupils (the default seed), and
/// that school.
pub async fn school_of(students: usize) -> anyhow::Result<(SimHandle, SimSchool)> {
    one_school(SimConfig { students_per_school: students, ..SimConfig::default() }).await
}

/// A simulator of one school of 5 pupils, a server on it with the app's
/// own token (catalog, access requests) and a sync worker, and the usual
/// scenario in its database.
pub async fn with_app_token(engine: &Engine) -> anyhow::Result<(SimHandle, TestApp, Scenario)> {
    let (sim, _) = school_of(5).await?;
    let app = TestApp::spawn_with_app_token(engine, &sim.base_url(), &sim.app_token()).await?;
    let s = Scenario::build(app.db()).await?;
    Ok((sim, app, s))
}

/// A simulator of one school built from `config`, that school, a server
/// whose Wonde is the simulator, and the usual scenario in its database.
pub async fn with_wonde(
    engine: &Engine,
    config: SimConfig,
) -> anyhow::Result<(SimHandle, SimSchool, TestApp, Scenario)> {
    let (sim, sim_school) = one_school(config).await?;
    let app = TestApp::spawn_with_wonde(engine, &sim.base_url()).await?;
    let s = Scenario::build(app.db()).await?;
    Ok((sim, sim_school, app, s))
}

/// A simulated school of `students` pupils connected (approved) to a new
/// school of a new trust, `names`, in `db`, its token sealed with a key of
/// 32 `key_byte`s: the simulator, its school, ours, and the key as the
/// commands take it (base64).
pub async fn connected_school(
    db: &sea_orm::DatabaseConnection,
    key_byte: u8,
    students: usize,
    (trust, school): (&str, &str),
) -> anyhow::Result<(wonde_sim::SimHandle, wonde_sim::SimSchool, entity::school::Model, String)> {
    use base64::Engine as _;
    let key_text = base64::engine::general_purpose::STANDARD.encode([key_byte; 32]);
    let key = onroll::crypto::SecretKey::parse(&key_text)?;
    let (sim, sim_school) = school_of(students).await?;
    let f = super::fixture::Fixture::new(db);
    let trust = f.trust(trust).await?;
    let school = f.school(&trust, school).await?;
    f.approved_connection(&school, &sim_school.wonde_id, &sim_school.token, &key).await?;
    Ok((sim, sim_school, school, key_text))
}

/// Retries at test speed: `max_retries` of them from 5 ms, backing off to
/// at most `max_delay_ms`, none started after `max_elapsed`.
pub fn fast_retry(max_retries: u32, max_delay_ms: u64, max_elapsed: Duration) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(max_delay_ms),
        max_elapsed,
    }
}

/// A Wonde client at `url` that gives up quickly.
pub fn test_wonde(url: &str) -> anyhow::Result<WondeClient> {
    let retry = fast_retry(1, 20, Duration::from_secs(2));
    Ok(WondeClient::new(WondeConfig { base_url: Some(url.to_owned()), retry, ..WondeConfig::default() })?)
}

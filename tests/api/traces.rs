//! Traces of a sync run (issue 15, logs and traces): every line a run logs
//! sits in a `sync.run` span naming the run, its phases in `sync.phase`
//! spans, and each Wonde call in a `wonde.request` span naming the endpoint
//! as the metrics label it, so one run's story is a filter on its id.
//!
//! The run is driven on the test's own thread, so a subscriber set as this
//! thread's default sees exactly this test's lines, whatever else the
//! suite logs at the same time.

use entity::enums::SyncKind;
use serde_json::Value;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use crate::support::Engine;
use crate::sync_wonde::World;

// PostgreSQL only. On SQLite, sqlx's worker thread takes up the run's
// spans on a thread where this test's scoped subscriber is not installed,
// and tracing-subscriber's registry panics there (registry/sharded.rs: a
// span id it does not hold), which kills the worker and leaves the run
// waiting for an answer (about one run in ten: every thread parked, a
// backtrace shows the worker's panic). The binary installs one global
// subscriber, where spans never change subscriber; and what is tested, that
// a run logs inside its spans, does not depend on the engine.
mod a_run_logs_inside_its_spans {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(postgres_suite), ignore = "PostgreSQL suite: set ONROLL_TEST_DATABASE_URL")]
    async fn postgres() -> anyhow::Result<()> {
        super::a_run_logs_inside_its_spans(crate::support::Engine::postgres()?).await
    }
}

/// Log lines written to memory.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn parsed(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner).clone();
        String::from_utf8_lossy(&bytes).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
}

/// The names of the spans a JSON line was logged in, outermost first.
fn spans(line: &Value) -> Vec<&str> {
    line["spans"].as_array().into_iter().flatten().filter_map(|s| s["name"].as_str()).collect()
}

async fn a_run_logs_inside_its_spans(engine: Engine) -> anyhow::Result<()> {
    let world = World::start(&engine, 1, 12).await?;
    let lines = Lines::default();
    let writer = lines.clone();
    // Onroll's own lines; the limit turns a hang into a failure that says
    // so, not a suite that never ends.
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("onroll=debug"))
        .with_writer(move || writer.clone())
        .json()
        .with_span_list(true)
        .finish();
    let run = {
        let _default = tracing::subscriber::set_default(subscriber);
        tokio::time::timeout(std::time::Duration::from_secs(120), world.sync(0, SyncKind::Full))
            .await
            .map_err(|_| anyhow::anyhow!("the traced FULL run did not end within 120 s"))??
    };
    let logged = lines.parsed();
    let ours: Vec<&Value> = logged
        .iter()
        .filter(|l| l["spans"][0]["name"] == "sync.run" && l["spans"][0]["sync.run_id"] == run.id)
        .collect();
    assert!(!ours.is_empty(), "no line in the run's span: {logged:?}");
    assert!(ours.iter().all(|l| l["spans"][0]["sync.kind"] == "FULL"));

    // Each Wonde answer, inside its phase and its request's span, with the
    // endpoint labelled without the school's Wonde id.
    let answers: Vec<&&Value> = ours.iter().filter(|l| l["fields"]["message"] == "Wonde answered").collect();
    assert!(answers.len() >= 2, "{ours:?}");
    for answer in &answers {
        let names = spans(answer);
        assert_eq!((names.first(), names.last()), (Some(&"sync.run"), Some(&"wonde.request")), "{answer}");
        assert_eq!(answer["fields"]["status"], 200);
        let endpoint = answer["spans"][names.len() - 1]["wonde.endpoint"].as_str().unwrap_or_default();
        assert!(endpoint.starts_with("schools/{id}"), "{endpoint}");
        assert!(!endpoint.contains(&world.schools[0].0), "{endpoint}");
    }
    // The roll is read in the fetch phase.
    assert!(answers.iter().any(|a| spans(a) == ["sync.run", "sync.phase", "wonde.request"]
        && a["spans"][1]["sync.phase"] == "fetch"
        && a["spans"][2]["wonde.endpoint"] == "schools/{id}/students"));

    // Every phase says when it ended and how long it took.
    let phases: Vec<&str> = ours
        .iter()
        .filter(|l| l["fields"]["message"] == "phase ended")
        .filter_map(|l| l["spans"][1]["sync.phase"].as_str())
        .collect();
    assert_eq!(phases, ["fetch", "apply", "commit"], "{ours:?}");
    assert!(
        ours.iter()
            .filter(|l| l["fields"]["message"] == "phase ended")
            .all(|l| l["fields"]["took_ms"].is_u64() && l["fields"]["ok"] == true)
    );
    Ok(())
}

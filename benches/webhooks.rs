//! Outbound webhooks. Not a test: `cargo bench --bench webhooks`.
//!
//! 1. Latency (`onroll::bench::latency`, what `onroll bench` runs): a
//!    student leaves in the simulator, an admin triggers an INCREMENTAL
//!    run, and the signed deactivation reaches the demo's receiver on
//!    127.0.0.1 (BENCH_LEAVERS, default 50). The baseline, in the same run
//!    and for the same leavers, is the same event reaching a subscriber on
//!    `/graphql/ws`: the ratio is what the outbox adds.
//! 2. Throughput: BENCH_EVENTS (default 10,000) events appended to the log
//!    at once, for BENCH_ENDPOINTS (10) endpoints, each its own receiver:
//!    deliveries per second until every one has arrived, verified. The
//!    baseline is the same receivers taking the same number of signed
//!    POSTs straight from one HTTP client, 16 at a time (the worker's
//!    concurrency): the ceiling of the loopback and the receivers.
//!
//! SQLite, and PostgreSQL too when ONROLL_BENCH_DATABASE_URL (or
//! ONROLL_TEST_DATABASE_URL) is set.

mod support;
use support::{engines, env_number, library_engine};

use entity::enums::{DeactivationReason, EventKind, PersonKind};
use entity::event;
use futures::StreamExt;
use onroll::bench::latency::{LatencySize, measure};
use onroll::config::SyncConfig;
use onroll::demo_receiver::DemoReceiver;
use onroll::server::{Application, Services};
use onroll::webhooks_out::WebhookSettings;
use onroll::webhooks_out::endpoints::{self, EndpointFields};
use sea_orm::Set;
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

struct Throughput {
    deliveries: usize,
    outbox_per_s: f64,
    direct_per_s: f64,
}

async fn throughput(engine: &str, events: usize, endpoint_count: usize) -> anyhow::Result<Throughput> {
    let (_, db) = support::migrated_database(engine, "webhooks_throughput").await?;
    let key = onroll::crypto::SecretKey::generate();
    let trust = onroll::tenancy::create_trust(&db, "Bench Trust").await?;
    let fields = onroll::schools::NewSchool::validate("Bench School", None, None)?;
    let school = onroll::schools::create(&db, trust.id, fields).await?;
    let mut receivers = Vec::with_capacity(endpoint_count);
    let mut secrets = Vec::with_capacity(endpoint_count);
    for _ in 0..endpoint_count {
        let receiver = DemoReceiver::start().await?;
        let fields = EndpointFields {
            url: Some(receiver.hook_url()),
            event_types: Some(vec![EventKind::Deactivated]),
            school_ids: Some(None),
            description: None,
        };
        let created = endpoints::create(&db, &key, trust.id, fields, true).await?;
        receiver.set_secret(&created.secret);
        secrets.push(created.secret);
        receivers.push(receiver);
    }

    // The baseline: the same receivers, signed POSTs straight from a client.
    let client = reqwest::Client::new();
    let total = events * endpoint_count;
    let body = json!({ "type": "account.deactivated", "data": {} }).to_string();
    let started = Instant::now();
    let posts = (0..total).map(|n| {
        let (receiver, secret) = (&receivers[n % endpoint_count], &secrets[n % endpoint_count]);
        let (client, body) = (client.clone(), body.clone());
        async move {
            let id = format!("base_{n}");
            let ts = chrono::Utc::now().timestamp();
            let signature = onroll::webhooks_out::signing::header(&[secret], &id, ts, &body)?;
            client
                .post(receiver.hook_url())
                .header("webhook-id", id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", signature)
                .body(body)
                .send()
                .await?
                .error_for_status()?;
            anyhow::Ok(())
        }
    });
    let mut posts = futures::stream::iter(posts).buffer_unordered(16);
    while let Some(done) = posts.next().await {
        done?;
    }
    let direct_per_s = total as f64 / started.elapsed().as_secs_f64();
    let already: HashMap<usize, usize> =
        receivers.iter().enumerate().map(|(i, r)| (i, r.received().len())).collect();

    let services = Services {
        db: db.clone(),
        secret_key: key,
        webhook_secret: None,
        events: Default::default(),
        sync_wake: Default::default(),
        wonde: onroll::server::wonde_client(&SyncConfig {
            wonde_api_url: Some("http://127.0.0.1:9/v1.0".to_owned()),
            wonde_app_token: None,
            deactivation_guard: 0.5,
        })?,
        wonde_app_token: None,
    };
    let settings = WebhookSettings { allow_private: true, ..WebhookSettings::default() };
    let app = Application::new(services.clone(), ([127, 0, 0, 1], 0).into()).await?.with_webhooks(settings);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let rows: Vec<event::ActiveModel> = (0..events)
        .map(|_| event::ActiveModel {
            trust_id: Set(trust.id),
            school_id: Set(school.id),
            kind: Set(EventKind::Deactivated),
            person_kind: Set(Some(PersonKind::Student)),
            person_id: Set(Some(1)),
            reason: Set(Some(DeactivationReason::LeftSchool)),
            sync_run_id: Set(None),
            payload: Set(None),
            occurred_at: Set(chrono::Utc::now()),
            ..Default::default()
        })
        .collect();
    let started = Instant::now();
    let appended = onroll::events::log::append(&db, rows).await?;
    services.events.publish(&appended);
    let deadline = Instant::now() + Duration::from_secs(1_800);
    loop {
        let arrived: usize = receivers
            .iter()
            .enumerate()
            .map(|(i, r)| r.received().iter().skip(already[&i]).filter(|d| d.verified).count())
            .sum();
        if arrived >= total {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "{arrived} of {total} deliveries arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let outbox_per_s = total as f64 / started.elapsed().as_secs_f64();
    let _ = stop.send(());
    let _ = server.await;
    Ok(Throughput { deliveries: total, outbox_per_s, direct_per_s })
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (leavers, events, endpoints) = (
        env_number("BENCH_LEAVERS", 50),
        env_number("BENCH_EVENTS", 10_000),
        env_number("BENCH_ENDPOINTS", 10),
    );
    let engines = engines();
    println!(
        "webhooks: latency over {leavers} leavers (3 schools of 300); {events} events to {endpoints} endpoints"
    );
    println!(
        "{:<9} {:>10} {:>10} {:>10} {:>14} {:>9} {:>9}",
        "engine", "hook p50", "hook p99", "hook max", "subscr. p50/99", "p50/base", "p99/base"
    );
    let size = LatencySize { schools: 3, students: 300, leavers, baseline_runs: 1 };
    for engine in &engines {
        let row = runtime.block_on(measure(&library_engine(engine)?, size))?;
        let (hook, base) = (&row.webhook, &row.subscriber);
        let (p50, p99, max) = (hook.ms(0.5), hook.ms(0.99), hook.ms(1.0));
        let (b50, b99) = (base.ms(0.5), base.ms(0.99));
        println!(
            "{engine:<9} {p50:>7.1} ms {p99:>7.1} ms {max:>7.1} ms {b50:>6.1}/{b99:>5.1} ms {:>8.2}x {:>8.2}x",
            p50 / b50,
            p99 / b99
        );
    }
    println!("{:<9} {:>11} {:>14} {:>14} {:>9}", "engine", "deliveries", "outbox /s", "direct /s", "ratio");
    for engine in &engines {
        let row = runtime.block_on(throughput(engine, events, endpoints))?;
        println!(
            "{engine:<9} {:>11} {:>14.0} {:>14.0} {:>8.2}x",
            row.deliveries,
            row.outbox_per_s,
            row.direct_per_s,
            row.outbox_per_s / row.direct_per_s
        );
    }
    Ok(())
}

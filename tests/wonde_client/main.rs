//! The Wonde client against the simulator over real HTTP on 127.0.0.1: one
//! test per quirk of wonde-api.md §9 and per fault. Retry delays are
//! milliseconds so the suite stays fast.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use chrono::Utc;
use futures::StreamExt as _;
use onroll::wonde::model::AccessOutcome;
use onroll::wonde::{
    AccessContact, AccessList, AccessRequest, GroupType, ListQuery, Relation, RetryPolicy, SchoolAccess,
    SchoolSearch, SecretToken, WondeClient, WondeConfig, WondeError,
};
use serde_json::Value;
use wonde_sim::{
    AccessState, FaultKind, FaultSpec, NewStarter, PatchRequest, SimConfig, SimError, SimHandle, SimSchool,
    Simulator, StaffLeave, WebhookEvent, WebhookRequest, WebhookTarget,
};

const RETRIES: u32 = 3;

async fn start(schools: usize, students: usize) -> Result<SimHandle> {
    Simulator::start(SimConfig { catalog_extra: 4, ..SimConfig::trust(schools, students, 42) }).await
}

fn config(sim: &SimHandle) -> WondeConfig {
    WondeConfig {
        base_url: Some(sim.base_url()),
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_retries: RETRIES,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(40),
            max_elapsed: Duration::from_secs(10),
        },
        ..WondeConfig::default()
    }
}

fn client(sim: &SimHandle) -> Result<WondeClient> {
    Ok(WondeClient::new(config(sim))?)
}

fn first_school(sim: &SimHandle) -> Result<SimSchool> {
    sim.schools().into_iter().next().context("no school")
}

/// A simulator of one school of `students` pupils, and that school.
async fn one_school(students: usize) -> Result<(SimHandle, SimSchool)> {
    let sim = start(1, students).await?;
    let school = first_school(&sim)?;
    Ok((sim, school))
}

fn access(school: &SimSchool) -> SchoolAccess {
    SchoolAccess::new(school.wonde_id.clone(), SecretToken::new(school.token.clone()))
}

async fn raw_get(url: &str, token: &str) -> Result<(u16, Value)> {
    let resp = reqwest::Client::new().get(url).bearer_auth(token).send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

mod access;
mod reads;

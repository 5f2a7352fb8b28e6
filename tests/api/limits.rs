//! The limits of docs/limits.md over real HTTP and WebSockets: the cost
//! report and the `rateLimit` field, each ceiling and its code, the points
//! budget (429, `Retry-After`, `X-RateLimit-*`), the time limit (503),
//! work stopped when the client goes away, expensive operations taking
//! turns, and the socket caps that keep `/healthz` up.

use futures::StreamExt;
use onroll::graphql::ids::NodeType;
use onroll::limits::LimitsConfig;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wonde_sim::{FaultKind, FaultSpec, SimConfig, SimHandle, Simulator};

use crate::on_both_engines;
use crate::support::fixture::{Scenario, gid};
use crate::support::{Engine, TestApp, ws};

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("<none>")
}

fn header(response: &reqwest::Response, name: &str) -> Option<u64> {
    response.headers().get(name)?.to_str().ok()?.parse().ok()
}

async fn post_raw(app: &TestApp, token: Option<&str>, query: &str) -> anyhow::Result<reqwest::Response> {
    let mut request = app.http.post(app.url("/graphql")).json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Ok(request.send().await?)
}

/// Every answer reports its cost in Shopify's shape and the budget in
/// GitHub's headers; `rateLimit` says the same from inside the query.
async fn limits_cost_and_budget_are_reported(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let query = "{ rateLimit { limit cost remaining resetAt queryCost }
        trusts { schools(first: 10) { edges { node { name } } } } }";
    let response = post_raw(&app, Some(&s.trust_admin), query).await?;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-ratelimit-limit"), Some(5_000));
    let remaining = header(&response, "x-ratelimit-remaining").unwrap_or(0);
    assert!((4_990..5_000).contains(&remaining), "{remaining}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let reset = header(&response, "x-ratelimit-reset").unwrap_or(0);
    assert!(reset >= now && reset <= now + 61, "reset {reset} now {now}");
    let body: Value = response.json().await?;
    let cost = &body["extensions"]["cost"];
    // rateLimit 1 + 5 fields; trusts (a list: 10) 1 + 10 × (schools 1 +
    // edges 1 + 10 × (node 1 + name 1)).
    let requested = cost["requestedQueryCost"].as_u64().unwrap_or(0);
    assert_eq!(requested, 6 + 1 + 10 * (1 + 1 + 10 * 2), "{cost}");
    // Two schools: trusts 1, schools 1, edges 1, 2 × (node, name), and
    // rateLimit's 6.
    assert_eq!(cost["actualQueryCost"].as_u64(), Some(6 + 7), "{cost}");
    assert_eq!(cost["throttleStatus"]["maximumAvailable"], 5_000, "{cost}");
    assert_eq!(cost["throttleStatus"]["currentlyAvailable"].as_u64(), Some(remaining), "{cost}");
    assert!(
        cost["throttleStatus"]["restoreRate"].as_f64().is_some_and(|r| (r - 83.33).abs() < 0.1),
        "{cost}"
    );
    let rate = &body["data"]["rateLimit"];
    assert_eq!(rate["limit"], 5_000, "{rate}");
    assert_eq!(rate["cost"], 3, "{requested} of cost is 3 points: {rate}");
    assert_eq!(rate["remaining"].as_u64(), Some(remaining), "{rate}");
    assert_eq!(rate["queryCost"].as_u64(), Some(requested), "{rate}");
    assert!(rate["resetAt"].is_string(), "{rate}");
    Ok(())
}

/// Each ceiling refuses with MAX_COST_EXCEEDED and says which, with the
/// cost in `extensions`; what is under every ceiling runs.
async fn limits_each_ceiling_refuses(engine: Engine) -> anyhow::Result<()> {
    let limits =
        LimitsConfig { max_cost: 500, max_aliases: 3, max_root_fields: 4, ..LimitsConfig::default() };
    let app = TestApp::spawn_with_limits(&engine, None, limits).await?;
    let s = Scenario::build(app.db()).await?;
    let token = Some(s.trust_admin.as_str());
    let cases = [
        ("cost", "{ trusts { schools(first: 50) { edges { node { name id } } } } }", "cost"),
        (
            "aliases",
            "{ a: viewer { role } b: viewer { role } c: viewer { role } d: viewer { role } }",
            "aliases",
        ),
        (
            "root fields",
            "{ viewer { role } trusts { id } wondeCatalog { schools } rateLimit { cost } node(id: \"x\") { id } }",
            "root fields",
        ),
        (
            "typename aliases",
            "{ viewer { a: __typename b: __typename c: __typename d: __typename } }",
            "aliases",
        ),
    ];
    for (what, query, says) in cases {
        let (status, body) = app.post(token, query, json!({})).await?;
        assert_eq!((status, code(&body)), (200, "MAX_COST_EXCEEDED"), "{what}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{what}: {message}");
        assert!(body["errors"][0]["extensions"]["cost"].is_u64(), "{what}: {body}");
        assert!(body["data"].is_null(), "{what}: {body}");
    }
    // A variable's `first` counts as written.
    let schools = "query($n: Int) { trusts { schools(first: $n) { edges { node { name id } } } } }";
    let (_, body) = app.post(token, schools, json!({ "n": 50 })).await?;
    assert_eq!(code(&body), "MAX_COST_EXCEEDED", "{body}");
    let (_, body) = app.post(token, schools, json!({ "n": 5 })).await?;
    assert!(body["errors"].is_null(), "{body}");
    let ok =
        "{ a: viewer { role } b: viewer { role } trusts { schools(first: 10) { edges { node { name } } } } }";
    app.query(&s.trust_admin, ok, json!({})).await?;
    Ok(())
}

/// A token's points run out: RATE_LIMITED, 429, `Retry-After`; another
/// token is unaffected; requests without a working token spend their
/// address's budget and get 429 instead of 401 once it is spent.
async fn limits_rate_is_a_points_budget_per_token(engine: Engine) -> anyhow::Result<()> {
    let limits = LimitsConfig { rate_points_per_minute: 10, ..LimitsConfig::default() };
    let app = TestApp::spawn_with_limits(&engine, None, limits).await?;
    let s = Scenario::build(app.db()).await?;
    // 3 points each: cost 1 + 1 + 80 × 3 = 242.
    let query = "{ deactivationEvents(first: 80) { edges { node { id kind } } } }";
    let mut spent = Vec::new();
    let refused = loop {
        let response = post_raw(&app, Some(&s.integrator), query).await?;
        if response.status() == 429 {
            break response;
        }
        assert_eq!(response.status(), 200);
        spent.push(header(&response, "x-ratelimit-remaining").unwrap_or(99));
        anyhow::ensure!(spent.len() < 10, "never refused: {spent:?}");
    };
    assert_eq!(spent, vec![7, 4, 1], "3 points a query out of 10");
    let retry_after = header(&refused, "retry-after").unwrap_or(0);
    assert!((1..=60).contains(&retry_after), "Retry-After: {retry_after}");
    assert_eq!(header(&refused, "x-ratelimit-limit"), Some(10));
    assert_eq!(header(&refused, "x-ratelimit-remaining"), Some(1));
    let body: Value = refused.json().await?;
    assert_eq!(code(&body), "RATE_LIMITED", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"].as_u64(), Some(retry_after), "{body}");
    assert!(body["data"].is_null(), "{body}");
    // A one-point query still fits in what is left.
    let (status, _) = app.post(Some(&s.integrator), "{ viewer { role } }", json!({})).await?;
    assert_eq!(status, 200);
    // Another token has its own budget.
    let (status, body) = app.post(Some(&s.trust_admin), query, json!({})).await?;
    assert_eq!(status, 200, "{body}");

    // Without a working token: a point each from the address's budget.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let response = post_raw(&app, Some("not-a-token"), "{ viewer { role } }").await?;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            assert!(header(&response, "retry-after").is_some());
            let body: Value = response.json().await?;
            assert_eq!(code(&body), "RATE_LIMITED", "{body}");
        }
    }
    assert_eq!(statuses[..10], [401; 10], "{statuses:?}");
    assert_eq!(statuses[10..], [429; 2], "{statuses:?}");
    Ok(())
}

/// An operation refused for its size or cost, or one that does not parse,
/// was charged nothing, so a token could send them without end, each
/// judged like a query: it is charged a point, as the cheapest operation,
/// and once the budget cannot pay it is RATE_LIMITED.
async fn limits_refused_operations_spend_the_budget(engine: Engine) -> anyhow::Result<()> {
    let limits = LimitsConfig { rate_points_per_minute: 4, ..LimitsConfig::default() };
    let app = TestApp::spawn_with_limits(&engine, None, limits).await?;
    let s = Scenario::build(app.db()).await?;
    let token = Some(s.trust_admin.as_str());
    let over_cost = "{ trusts { schools(first: 100) { edges { node { students(first: 100) { edges { node { id
        guardians { guardian { children { classes { students(first: 100) { edges { node { id forename surname
        } } } } } } } } } } } } } } }";
    let too_deep = format!("{{ viewer {} }}", "{ role ".repeat(70));
    let broken = "{ viewer { role ";
    for (query, code_of_it, left) in [
        (over_cost, "MAX_COST_EXCEEDED", 3),
        (too_deep.as_str(), "DOCUMENT_TOO_LARGE", 2),
        (broken, "GRAPHQL_VALIDATION_FAILED", 1),
    ] {
        let response = post_raw(&app, token, query).await?;
        let remaining = header(&response, "x-ratelimit-remaining");
        let body: Value = response.json().await?;
        assert_eq!(remaining, Some(left), "{code_of_it}: {body}");
        assert_eq!(code(&body), code_of_it, "{body}");
        assert_eq!(body["extensions"]["cost"]["pointsCharged"], 1, "{body}");
    }
    // The last point pays for an ordinary query; then nothing is judged free.
    let (status, body) = app.post(token, "{ viewer { role } }", json!({})).await?;
    assert_eq!(status, 200, "{body}");
    for query in [over_cost, too_deep.as_str(), broken] {
        let response = post_raw(&app, token, query).await?;
        assert_eq!(response.status(), 429);
        assert!(header(&response, "retry-after").is_some());
        let body: Value = response.json().await?;
        assert_eq!(code(&body), "RATE_LIMITED", "{body}");
    }
    Ok(())
}

/// Over the time limit: TIMEOUT with HTTP 503, long before the work would
/// have ended (a preview whose Wonde answers each call in 2 s).
async fn limits_a_request_over_its_time_is_stopped(engine: Engine) -> anyhow::Result<()> {
    // Long enough for connecting the school on a busy machine.
    let limits = LimitsConfig { request_timeout: Duration::from_millis(1_500), ..LimitsConfig::default() };
    let (sim, app, s, school) = slow_school(&engine, limits, 2_000).await?;
    let (status, body) = app.post(Some(&s.trust_admin), PREVIEW, json!({ "s": school })).await?;
    assert_eq!((status, code(&body)), (503, "TIMEOUT"), "{body}");
    assert!(body["data"].is_null(), "{body}");
    // Stopped, not left running: no more calls to Wonde for it.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let stopped = sim.requests().len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sim.requests().len(), stopped, "the preview went on after its time");
    Ok(())
}

/// The same limit holds for a query sent over the socket: TIMEOUT in its
/// `next`, then `complete`, and the socket stays open for the next
/// operation.
async fn limits_a_socket_query_over_its_time_is_stopped(engine: Engine) -> anyhow::Result<()> {
    let limits = LimitsConfig { request_timeout: Duration::from_millis(1_500), ..LimitsConfig::default() };
    let (_sim, app, s, school) = slow_school(&engine, limits, 2_000).await?;
    let (mut socket, ack) = ws::connect(app.addr, Some(&s.trust_admin)).await?;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let started = std::time::Instant::now();
    ws::subscribe(&mut socket, "slow", PREVIEW, json!({ "s": school })).await?;
    let answer = ws::next_message_within(&mut socket, Duration::from_secs(20)).await?;
    assert_eq!((answer["id"].as_str(), answer["type"].as_str()), (Some("slow"), Some("next")), "{answer}");
    assert_eq!(code(&answer["payload"]), "TIMEOUT", "{answer}");
    assert!(started.elapsed() < Duration::from_secs(8), "answered after {:?}", started.elapsed());
    let complete = ws::next_message_within(&mut socket, Duration::from_secs(5)).await?;
    assert_eq!(complete["type"], "complete", "{complete}");
    ws::subscribe(&mut socket, "quick", "{ viewer { role } }", json!({})).await?;
    let quick = ws::next_message_within(&mut socket, Duration::from_secs(10)).await?;
    assert_eq!(quick["payload"]["data"]["viewer"]["role"], "TRUST_ADMIN", "{quick}");
    Ok(())
}

/// A subscription is not timed, even in a document that also holds a
/// query and names the subscription: it outlives the request time limit
/// (no TIMEOUT, no complete), and the same document's query, named, is
/// answered on the same socket meanwhile.
async fn limits_a_subscription_outlives_the_time_limit(engine: Engine) -> anyhow::Result<()> {
    let limits = LimitsConfig { request_timeout: Duration::from_millis(300), ..LimitsConfig::default() };
    let app = TestApp::spawn_with_limits(&engine, None, limits).await?;
    let s = Scenario::build(app.db()).await?;
    let (mut socket, ack) = ws::connect(app.addr, Some(&s.trust_admin)).await?;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let both = "query Q { viewer { role } } subscription S { deactivations { __typename } }";
    let send = |id: &str, name: &str| json!({ "id": id, "type": "subscribe", "payload": { "query": both, "operationName": name } });
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    socket.send(Message::text(send("sub", "S").to_string())).await?;
    let quiet = ws::next_message_within(&mut socket, Duration::from_millis(1_500)).await;
    assert!(quiet.is_err(), "the subscription was answered: {quiet:?}");
    socket.send(Message::text(send("q", "Q").to_string())).await?;
    let answer = ws::next_message_within(&mut socket, Duration::from_secs(10)).await?;
    assert_eq!((answer["id"].as_str(), answer["type"].as_str()), (Some("q"), Some("next")), "{answer}");
    assert_eq!(answer["payload"]["data"]["viewer"]["role"], "TRUST_ADMIN", "{answer}");
    let complete = ws::next_message_within(&mut socket, Duration::from_secs(5)).await?;
    assert_eq!((complete["id"].as_str(), complete["type"].as_str()), (Some("q"), Some("complete")));
    let still = ws::next_message_within(&mut socket, Duration::from_millis(500)).await;
    assert!(still.is_err(), "the subscription ended: {still:?}");
    Ok(())
}

/// A connected school whose Wonde then answers every request in
/// `latency_ms`.
pub(crate) async fn slow_school(
    engine: &Engine,
    limits: LimitsConfig,
    latency_ms: u64,
) -> anyhow::Result<(SimHandle, TestApp, Scenario, String)> {
    let sim =
        Simulator::start(SimConfig { schools: 1, students_per_school: 5, seed: 5, ..SimConfig::default() })
            .await?;
    let school = sim.schools().into_iter().next().ok_or_else(|| anyhow::anyhow!("no school"))?;
    let app = TestApp::spawn_with_limits(engine, Some(&sim.base_url()), limits).await?;
    let s = Scenario::build(app.db()).await?;
    let connect = "mutation($i: ConnectWondeInput!) { connectWonde(input: $i) { id } }";
    let input = json!({ "i": {
        "trustId": gid(NodeType::Trust, s.trust.id),
        "wondeSchoolId": school.wonde_id, "apiToken": school.token,
    } });
    let data = app.query(&s.trust_admin, connect, input).await?;
    let id = data["connectWonde"]["id"].as_str().unwrap_or_default().to_owned();
    sim.inject_fault(FaultSpec::new("*", FaultKind::Latency { ms: latency_ms }, 1_000));
    Ok((sim, app, s, id))
}

/// Cost 6: previewSync 1, kind 1, held 1, students 1 + 2.
pub(crate) const PREVIEW: &str =
    "query($s: ID!) { previewSync(schoolId: $s, kind: FULL) { kind held students { created deactivated } } }";

/// A client that goes away stops its request: the server makes no more
/// calls to Wonde for a preview nobody waits for.
async fn limits_work_stops_when_the_client_goes_away(engine: Engine) -> anyhow::Result<()> {
    let (sim, app, s, school) = slow_school(&engine, LimitsConfig::default(), 400).await?;
    let before = sim.requests().len();
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(600)).build()?;
    let sent = impatient
        .post(app.url("/graphql"))
        .bearer_auth(&s.trust_admin)
        .json(&json!({ "query": PREVIEW, "variables": { "s": school } }))
        .send()
        .await;
    assert!(sent.is_err(), "the client gave up first");
    // The call to Wonde in flight when the client left may still finish.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_leaving = sim.requests().len();
    assert!(after_leaving > before, "the preview had started calling Wonde");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = sim.requests().len();
    assert_eq!(later, after_leaving, "no call to Wonde after the client went away");

    // Waited for, the same preview makes many more calls and answers.
    let data = app.query(&s.trust_admin, PREVIEW, json!({ "s": school })).await?;
    assert_eq!(data["previewSync"]["kind"], "FULL");
    assert!(sim.requests().len() > later + 3, "a whole preview calls Wonde for every list");
    Ok(())
}

/// Expensive operations take turns (one at a time here), and a cheap one
/// does not wait behind them.
async fn limits_expensive_operations_take_turns(engine: Engine) -> anyhow::Result<()> {
    let limits = LimitsConfig { expensive_cost: 5, expensive_at_once: Some(1), ..LimitsConfig::default() };
    let (_sim, app, s, school) = slow_school(&engine, limits, 400).await?;
    let app = std::sync::Arc::new(app);
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let run = |name: &'static str, query: &'static str, variables: Value| {
        let (app, order, token) = (app.clone(), order.clone(), s.trust_admin.clone());
        tokio::spawn(async move {
            let answer = app.query(&token, query, variables).await;
            order.lock().map(|mut o| o.push(name)).ok();
            answer
        })
    };
    // The preview (cost 6) takes the only turn and holds it for seconds.
    let preview = run("preview", PREVIEW, json!({ "s": school }));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = run(
        "second expensive",
        "{ trusts { id name schools(first: 1) { edges { node { id } } } } }",
        json!({}),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let cheap = run("cheap", "{ viewer { role } }", json!({}));
    cheap.await??;
    assert_eq!(
        order.lock().map(|o| o.clone()).unwrap_or_default(),
        ["cheap"],
        "the cheap query did not wait"
    );
    preview.await??;
    second.await??;
    assert_eq!(
        order.lock().map(|o| o.clone()).unwrap_or_default(),
        ["cheap", "preview", "second expensive"],
        "the second expensive query waited for the first"
    );
    Ok(())
}

/// Opens `/graphql/ws` and sends nothing: `Ok` when upgraded, `Err(status)`
/// when refused before the upgrade (with the refusal's body).
async fn idle_socket(app: &TestApp) -> anyhow::Result<Result<ws::Socket, (u16, String)>> {
    let mut request = format!("ws://{}/graphql/ws", app.addr).into_client_request()?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(Ok(socket)),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body =
                response.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            Ok(Err((response.status().as_u16(), body)))
        }
        Err(err) => Err(err.into()),
    }
}

/// A token holds at most its cap of sockets (the next closes with 4429);
/// an address at most its cap of sockets not yet initialised (the next
/// upgrade is refused, 429 TOO_MANY_SOCKETS) until they initialise or
/// time out (4408).
async fn limits_sockets_are_capped(engine: Engine) -> anyhow::Result<()> {
    let limits = LimitsConfig {
        ws_per_token: 2,
        ws_pending_per_address: 3,
        ws_init_timeout: Duration::from_millis(800),
        ..LimitsConfig::default()
    };
    let app = TestApp::spawn_with_limits(&engine, None, limits).await?;
    let s = Scenario::build(app.db()).await?;
    let (_a, ack) = ws::connect(app.addr, Some(&s.integrator)).await?;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let (_b, ack) = ws::connect(app.addr, Some(&s.integrator)).await?;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let (_, third) = ws::connect(app.addr, Some(&s.integrator)).await?;
    assert_eq!(third, json!({ "close": 4429 }), "a token's third socket");
    let (_other, ack) = ws::connect(app.addr, Some(&s.trust_admin)).await?;
    assert_eq!(ack["type"], "connection_ack", "another token: {ack}");

    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(idle_socket(&app).await?.map_err(|(status, body)| anyhow::anyhow!("{status} {body}"))?);
    }
    let refused = idle_socket(&app).await?;
    let Err((status, body)) = refused else { anyhow::bail!("a fourth idle socket was accepted") };
    assert_eq!(status, 429);
    assert!(body.contains("TOO_MANY_SOCKETS"), "{body}");
    // Silent sockets are closed after the init timeout, and free their slots.
    for socket in &mut idle {
        let closed = ws::next_within(socket, Duration::from_secs(5)).await?;
        assert_eq!(closed, json!({ "close": 4408 }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(idle_socket(&app).await?.is_ok(), "slots come back");
    Ok(())
}

/// Two hundred sockets that never send `connection_init` do not take the
/// server down: most are refused, `/healthz` and queries still answer.
async fn limits_healthz_stays_up_under_idle_sockets(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let attempts = futures::stream::iter(0..200).map(|_| idle_socket(&app)).buffer_unordered(50);
    let outcomes: Vec<_> = attempts.collect().await;
    let mut open = Vec::new();
    let mut refused = 0;
    for outcome in outcomes {
        match outcome? {
            Ok(socket) => open.push(socket),
            Err((429, body)) if body.contains("TOO_MANY_SOCKETS") => refused += 1,
            Err((status, body)) => anyhow::bail!("unexpected refusal {status}: {body}"),
        }
    }
    assert_eq!(open.len(), 20, "the default cap per address");
    assert_eq!(refused, 180);
    let health = app.http.get(app.url("/healthz")).timeout(Duration::from_secs(2)).send().await?;
    assert_eq!(health.status(), 200);
    app.query(&s.integrator, "{ viewer { role } }", json!({})).await?;
    drop(open);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_socket, ack) = ws::connect(app.addr, Some(&s.integrator)).await?;
    assert_eq!(ack["type"], "connection_ack", "once they go, a socket is welcome again: {ack}");
    Ok(())
}

on_both_engines!(
    limits_cost_and_budget_are_reported,
    limits_each_ceiling_refuses,
    limits_rate_is_a_points_budget_per_token,
    limits_refused_operations_spend_the_budget,
    limits_a_request_over_its_time_is_stopped,
    limits_a_socket_query_over_its_time_is_stopped,
    limits_a_subscription_outlives_the_time_limit,
    limits_work_stops_when_the_client_goes_away,
    limits_expensive_operations_take_turns,
    limits_sockets_are_capped,
    limits_healthz_stays_up_under_idle_sockets,
);

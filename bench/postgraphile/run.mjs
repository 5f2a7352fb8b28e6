// Onroll against PostGraphile 5 on the same PostgreSQL tables (README.md).
// Not a test. Run through ./run.sh, which builds and installs what this
// needs; every setting is an environment variable (README.md).
//
// The driver makes a fresh database, fills it with Onroll's own FULL syncs
// of a simulated trust, serves it with both servers, checks that they
// answer each query with the same rows, and measures each query with wrk,
// alternating the servers. It prints one markdown table. Whatever happens,
// it stops every process it started (by its PID) and drops the database.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { QUERIES, rowCount } from "./queries.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const env = (name, fallback) => process.env[name] ?? fallback;
const SETTINGS = {
  schools: Number(env("BENCH_SCHOOLS", "20")),
  students: Number(env("BENCH_STUDENTS", "1000")),
  seed: Number(env("BENCH_SEED", "5")),
  duration: Number(env("BENCH_SECONDS", "10")),
  rounds: Number(env("BENCH_ROUNDS", "2")),
  connections: env("BENCH_CONNECTIONS", "16,64").split(",").map(Number),
  threads: Number(env("BENCH_THREADS", String(Math.min(os.cpus().length, 4)))),
  counted: Number(env("BENCH_COUNTED_REQUESTS", "200")),
  latencySeconds: Number(env("BENCH_LATENCY_SECONDS", "5")),
  bin: env("ONROLL_RELEASE_DIR", path.join(ROOT, "target/release")),
  expensive: Number(env("ONROLL_EXPENSIVE_QUERY_COST", "10000")),
};
const PG = { host: "127.0.0.1", port: 5432, user: "postgres" };
const DATABASE = `onroll_pgbench_${process.pid}`;
const SCRATCH = mkdtempSync(path.join(os.tmpdir(), "onroll-pgbench-"));
const pgUrl = (port = PG.port, database = DATABASE) =>
  `postgres://${PG.user}@${PG.host}:${port}/${database}?sslmode=disable`;

const say = (...args) => console.error(...args);

// ---- processes: every one started is stopped by its PID at the end ----

const started = [];

function start(name, command, args, options = {}) {
  const log = path.join(SCRATCH, `${name}.log`);
  const fd = openSync(log, "a");
  const stdout = options.pipeStdout ? "pipe" : fd;
  const child = spawn(command, args, {
    stdio: ["ignore", stdout, fd],
    env: { ...process.env, ...options.env },
    cwd: options.cwd ?? HERE,
  });
  child.on("error", (err) => say(`${name}: ${err.message}`));
  started.push({ name, child, log });
  return child;
}

async function stop(entry) {
  const { child } = entry;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  process.kill(child.pid, "SIGTERM");
  const timedOut = await Promise.race([exited.then(() => false), sleep(10_000).then(() => true)]);
  if (timedOut) {
    process.kill(child.pid, "SIGKILL");
    await exited;
  }
}

async function stopAll(names) {
  for (const entry of [...started].reverse()) {
    if (!names || names.includes(entry.name)) await stop(entry);
  }
}

function logTail(name, lines = 20) {
  const entry = started.find((e) => e.name === name);
  if (!entry) return "";
  return readFileSync(entry.log, "utf8").split("\n").slice(-lines).join("\n");
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// ---- PostgreSQL ----

function psql(sql, database = DATABASE) {
  return execFileSync(
    "psql",
    ["-h", PG.host, "-p", String(PG.port), "-U", PG.user, "-d", database, "-v", "ON_ERROR_STOP=1", "-Atqc", sql],
    { encoding: "utf8" },
  ).trim();
}

// ---- HTTP ----

async function graphql(url, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
  const answer = await res.json();
  if (answer.errors) throw new Error(`${url}: ${JSON.stringify(answer.errors)}`);
  return answer;
}

async function until(what, seconds, probe) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready within ${seconds} s`);
    await sleep(250);
  }
}

// ---- the servers ----

async function startSimulator() {
  const port = await freePort();
  const child = start(
    "wonde-sim",
    path.join(SETTINGS.bin, "wonde-sim"),
    [
      "--bind", `127.0.0.1:${port}`,
      "--schools", String(SETTINGS.schools),
      "--students-per-school", String(SETTINGS.students),
      "--seed", String(SETTINGS.seed),
      "--catalog-extra", "0",
    ],
    { pipeStdout: true },
  );
  const schools = [];
  let buffered = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk) => {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      const m = line.match(/^school (\S+) token (\S+)$/);
      if (m) schools.push({ wondeId: m[1], token: m[2] });
    }
  });
  await until("wonde-sim", 300, async () => schools.length === SETTINGS.schools);
  return { url: `http://127.0.0.1:${port}/v1.0`, schools };
}

function onrollCli(args, dbEnv) {
  return execFileSync(path.join(SETTINGS.bin, "onroll"), args, {
    encoding: "utf8",
    env: { ...process.env, ...dbEnv },
    stdio: ["ignore", "pipe", "pipe"],
  }).trim();
}

async function startOnroll(name, databaseUrl, dbEnv, wondeUrl) {
  const port = await freePort();
  start(name, path.join(SETTINGS.bin, "onroll"), [
    "serve",
    "--bind", `127.0.0.1:${port}`,
    "--wonde-api-url", wondeUrl,
    "--full-sync-every", "0",
    "--incremental-sync-every", "0",
  ], {
    env: {
      ...dbEnv,
      DATABASE_URL: databaseUrl,
      // The points budget (5,000 a minute per token) would refuse a load
      // test within a second; every other limit keeps its default.
      ONROLL_RATE_LIMIT_POINTS: "4000000000",
    },
  });
  const base = `http://127.0.0.1:${port}`;
  await until(name, 120, async () => (await fetch(`${base}/readyz`)).ok).catch((err) => {
    throw new Error(`${err.message}\n${logTail(name)}`);
  });
  return `${base}/graphql`;
}

async function startPostGraphile(name, databaseUrl) {
  const port = await freePort();
  start(name, process.execPath, ["server.mjs", databaseUrl, String(port)], {
    env: { NODE_OPTIONS: `--require ${path.join(HERE, "polyfill.cjs")}`, NODE_ENV: "production", GRAPHILE_ENV: "production" },
  });
  const url = `http://127.0.0.1:${port}/graphql`;
  await until(name, 120, async () => (await graphql(url, { query: "{ __typename }" })).data).catch((err) => {
    throw new Error(`${err.message}\n${logTail(name)}`);
  });
  return url;
}

// ---- filling the database through Onroll's own API ----

async function connectAndSync(onroll, token, trustId, sim) {
  const began = Date.now();
  for (const school of sim.schools) {
    await graphql(
      onroll,
      {
        query: "mutation($input: ConnectWondeInput!) { connectWonde(input: $input) { id } }",
        variables: { input: { trustId, wondeSchoolId: school.wondeId, apiToken: school.token } },
      },
      token,
    );
  }
  const query = "{ trusts { schools(first: 100) { edges { node { name connection { latestRun { status error } } } } } } }";
  let last = -1;
  for (;;) {
    const { data } = await graphql(onroll, { query }, token);
    const runs = data.trusts[0].schools.edges.map((e) => [e.node.name, e.node.connection?.latestRun]);
    // A failed run is final: stop at once with its reason.
    const failed = runs.find(([, run]) => run && ["FAILED", "CANCELLED"].includes(run.status));
    if (failed) throw new Error(`FULL sync of ${failed[0]}: ${failed[1].status} ${failed[1].error ?? ""}`);
    const done = runs.filter(([, run]) => run?.status === "COMPLETED").length;
    if (done !== last) {
      last = done;
      say(`  FULL syncs completed: ${done}/${runs.length} (${Math.round((Date.now() - began) / 1000)} s)`);
    }
    if (runs.length === sim.schools.length && done === runs.length) break;
    if (Date.now() - began > 3_600_000) throw new Error("the FULL syncs took over an hour");
    await sleep(1000);
  }
  return (Date.now() - began) / 1000;
}

/// The rows the queries ask for: the first school, its class of median
/// size (current members), and its first student with two guardian links
/// (or with the most, if none has two).
function pickRows() {
  const school = Number(psql("SELECT min(id) FROM school"));
  const classes = psql(
    `SELECT c.id, count(*) FROM class c JOIN class_student m ON m.class_id = c.id AND m.active
     WHERE c.school_id = ${school} AND c.active GROUP BY c.id ORDER BY count(*), c.id`,
  )
    .split("\n")
    .map((line) => line.split("|").map(Number));
  const [klass, classSize] = classes[Math.floor(classes.length / 2)];
  const student = Number(
    psql(
      `SELECT student_id FROM guardian_link WHERE school_id = ${school} AND active
       GROUP BY student_id ORDER BY count(*) = 2 DESC, count(*) DESC, student_id LIMIT 1`,
    ),
  );
  return { school, class: klass, classSize, student };
}

// ---- measuring ----

function bodyFile(server, query, ids) {
  const file = path.join(SCRATCH, `${query.key}-${server}.json`);
  const spec = query[server];
  writeFileSync(file, JSON.stringify({ query: spec.query, variables: spec.variables(ids) }));
  return file;
}

async function checkSameRows(urls, token, ids) {
  const sizes = {};
  const costs = {};
  for (const query of QUERIES) {
    const rows = {};
    for (const server of ["onroll", "postgraphile"]) {
      const body = JSON.parse(readFileSync(bodyFile(server, query, ids), "utf8"));
      const answer = await graphql(urls[server], body, server === "onroll" ? token : undefined);
      rows[server] = query.rows(answer.data, server);
      if (server === "onroll") costs[query.key] = answer.extensions?.cost?.requestedQueryCost;
    }
    const [a, b] = [JSON.stringify(rows.onroll), JSON.stringify(rows.postgraphile)];
    if (a !== b) {
      writeFileSync(path.join(SCRATCH, `${query.key}-onroll.rows.json`), a);
      writeFileSync(path.join(SCRATCH, `${query.key}-postgraphile.rows.json`), b);
      throw new Error(`query ${query.key}: the two servers answer with different rows (see ${SCRATCH})`);
    }
    sizes[query.key] = rowCount(rows.onroll);
  }
  return { sizes, costs };
}

function wrk(url, body, token, connections, seconds, threads, extra = []) {
  const out = execFileSync(
    "wrk",
    ["-t", String(Math.min(threads, connections)), "-c", String(connections), "-d", `${seconds}s`, "--timeout", "30s", ...extra,
      "-s", path.join(HERE, "post.lua"), url],
    { encoding: "utf8", env: { ...process.env, BODY: body, TOKEN: token ?? "" } },
  );
  const number = (re) => {
    const m = out.match(re);
    return m ? Number(m[1]) : NaN;
  };
  const errors = number(/graphql_errors (\d+)/) + (number(/Non-2xx or 3xx responses: (\d+)/) || 0);
  const socketErrors = out.match(/Socket errors: .*/)?.[0];
  if (errors > 0 || socketErrors) throw new Error(`wrk against ${url}: ${errors} error answers ${socketErrors ?? ""}\n${out}`);
  const unit = { us: 0.001, ms: 1, s: 1000 };
  const quantile = (q) => {
    const m = out.match(new RegExp(`^\\s+${q}%\\s+([\\d.]+)(us|ms|s)\\s*$`, "m"));
    return m ? Number(m[1]) * unit[m[2]] : NaN;
  };
  return { rps: number(/Requests\/sec:\s+([\d.]+)/), p50ms: quantile(50), p99ms: quantile(99) };
}

// ---- resident memory: the kernel's peak (VmHWM), reset before a load ----

const child = (name) => started.find((e) => e.name === name)?.child;

/// Resets a process's peak resident set (Linux: `5` to clear_refs).
function resetPeak(name) {
  try {
    writeFileSync(`/proc/${child(name).pid}/clear_refs`, "5");
  } catch (err) {
    say(`cannot reset ${name}'s peak resident set: ${err.message}`);
  }
}

/// A process's peak resident set since its last reset, in MiB.
function peakMiB(name) {
  try {
    const m = readFileSync(`/proc/${child(name).pid}/status`, "utf8").match(/VmHWM:\s+(\d+) kB/);
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/// Statements per request through the counting proxy: `requests`
/// sequential requests in three batches, each less what the server sends
/// by itself when idle (Onroll's workers poll the database), measured over
/// `idleSeconds` before it. The batch with the fewest is reported: a
/// one-off burst of background work (a freshly started server's first
/// jobs) lands in at most one batch, and a request's own statements are in
/// every batch. All three are reported, so a surplus in every batch shows
/// (README: (a)'s is one, not yet explained).
async function statementsPerRequest(url, body, token, control, idleSeconds, requests) {
  const payload = readFileSync(body, "utf8");
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const send = async () => {
    const res = await fetch(url, { method: "POST", headers, body: payload });
    const answer = await res.json();
    if (answer.errors) throw new Error(JSON.stringify(answer.errors));
  };
  for (let i = 0; i < 20; i++) await send();
  const total = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);
  const read = async (reset) => (await fetch(control + (reset ? "reset" : ""), { method: reset ? "POST" : "GET" })).json();
  const perBatch = Math.max(1, Math.floor(requests / 3));
  const batches = [];
  for (let batch = 0; batch < 3; batch++) {
    await read(true);
    await sleep(idleSeconds * 1000);
    const idle = await read(true);
    const began = Date.now();
    for (let i = 0; i < perBatch; i++) await send();
    const elapsed = (Date.now() - began) / 1000;
    const busy = await read(false);
    const background = (total(idle) / idleSeconds) * elapsed;
    const perKeyword = {};
    for (const [keyword, n] of Object.entries(busy)) {
      const idleShare = ((idle[keyword] ?? 0) / idleSeconds) * elapsed;
      perKeyword[keyword] = Math.max(0, (n - idleShare) / perBatch);
    }
    batches.push({ perRequest: (total(busy) - background) / perBatch, perKeyword, idle, idleSeconds });
  }
  const fewest = batches.reduce((a, b) => (b.perRequest < a.perRequest ? b : a));
  return { ...fewest, batches: batches.map((b) => b.perRequest) };
}

// ---- the run ----

async function main() {
  say(`scratch: ${SCRATCH}; database: ${DATABASE}`);
  psql(`CREATE DATABASE ${DATABASE}`, "postgres");
  const dbEnv = {
    DATABASE_URL: pgUrl(),
    ONROLL_SECRET_KEY: [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, "0")).join(""),
  };

  say(`starting the Wonde simulator: ${SETTINGS.schools} schools of ${SETTINGS.students} pupils (seed ${SETTINGS.seed})`);
  const sim = await startSimulator();
  const trustId = onrollCli(["trust", "create", "--name", "PostGraphile Bench Trust"], dbEnv);
  const token = onrollCli(["token", "create", "--role", "trust-admin", "--trust", trustId, "--label", "pgbench"], dbEnv);
  const onroll = await startOnroll("onroll", pgUrl(), dbEnv, sim.url);
  say("connecting the schools (connectWonde) and waiting for their first FULL syncs");
  const syncSeconds = await connectAndSync(onroll, token, trustId, sim);
  await stopAll(["wonde-sim"]);
  psql("ANALYZE", DATABASE);
  const counts = psql(
    "SELECT (SELECT count(*) FROM student) || ' students, ' || (SELECT count(*) FROM guardian) || ' guardians, ' || " +
      "(SELECT count(*) FROM guardian_link) || ' guardian links, ' || (SELECT count(*) FROM class) || ' classes, ' || " +
      "(SELECT count(*) FROM class_student) || ' class memberships'",
    DATABASE,
  );
  say(`synced in ${syncSeconds.toFixed(0)} s: ${counts}; ANALYZE done`);

  const postgraphile = await startPostGraphile("postgraphile", pgUrl());
  const urls = { onroll, postgraphile };
  const ids = pickRows();
  const bodies = {};
  for (const query of QUERIES) {
    bodies[query.key] = { onroll: bodyFile("onroll", query, ids), postgraphile: bodyFile("postgraphile", query, ids) };
  }
  const { sizes, costs } = await checkSameRows(urls, token, ids);
  say(`same rows in both answers: ${QUERIES.map((q) => `(${q.key}) ${sizes[q.key]} rows`).join(", ")}`);
  const tokens = { onroll: token, postgraphile: undefined };

  // Statements per request: a second instance of each server, reaching
  // PostgreSQL through the counting proxy (the measured ones do not).
  const proxyPort = await freePort();
  const controlPort = await freePort();
  start("pgcount", process.execPath, ["pgcount.mjs", String(proxyPort), String(controlPort)]);
  await sleep(500);
  const counted = {
    onroll: await startOnroll("onroll-counted", pgUrl(proxyPort), dbEnv, "http://127.0.0.1:9/v1.0"),
    postgraphile: await startPostGraphile("postgraphile-counted", pgUrl(proxyPort)),
  };
  const statements = {};
  for (const query of QUERIES) {
    statements[query.key] = {};
    for (const server of ["onroll", "postgraphile"]) {
      const idleSeconds = server === "onroll" ? 10 : 3;
      statements[query.key][server] = await statementsPerRequest(
        counted[server], bodies[query.key][server], tokens[server], `http://127.0.0.1:${controlPort}/`,
        idleSeconds, SETTINGS.counted,
      );
    }
  }
  await stopAll(["onroll-counted", "postgraphile-counted", "pgcount"]);
  say("statements per request counted");

  const results = {};
  for (const query of QUERIES) {
    const r = (results[query.key] = { latency: {}, rps: {}, p99: {}, peakMiB: {} });
    for (const server of ["onroll", "postgraphile"]) {
      // Warm up: Node's JIT, both pools, PostgreSQL's caches.
      wrk(urls[server], bodies[query.key][server], tokens[server], 16, 3, SETTINGS.threads);
    }
    for (const server of ["onroll", "postgraphile"]) {
      r.latency[server] = wrk(urls[server], bodies[query.key][server], tokens[server], 1, SETTINGS.latencySeconds, 1, ["--latency"]).p50ms;
    }
    for (const server of ["onroll", "postgraphile"]) resetPeak(server);
    for (const connections of SETTINGS.connections) {
      r.rps[connections] = { onroll: [], postgraphile: [] };
      r.p99[connections] = { onroll: [], postgraphile: [] };
      for (let round = 0; round < SETTINGS.rounds; round++) {
        const order = round % 2 === 0 ? ["onroll", "postgraphile"] : ["postgraphile", "onroll"];
        for (const server of order) {
          const { rps, p99ms } = wrk(
            urls[server], bodies[query.key][server], tokens[server], connections, SETTINGS.duration, SETTINGS.threads, ["--latency"],
          );
          r.rps[connections][server].push(rps);
          r.p99[connections][server].push(p99ms);
          say(`  (${query.key}) ${connections} connections, ${server}: ${rps.toFixed(0)} req/s, p99 ${p99ms} ms`);
        }
      }
    }
    for (const server of ["onroll", "postgraphile"]) r.peakMiB[server] = peakMiB(server);
  }

  console.log(report({ results, statements, sizes, costs, ids, counts, syncSeconds }));
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const ratio = (a, b) => `${(a / b).toFixed(2)}×`;
const int = (n) => Math.round(n).toLocaleString("en-GB");

function report({ results, statements, sizes, costs, ids, counts, syncSeconds }) {
  const head = ["query"];
  for (const c of SETTINGS.connections) head.push(`req/s at ${c} connections, Onroll / PostGraphile (ratio)`);
  const most = SETTINGS.connections[SETTINGS.connections.length - 1];
  head.push(
    "SQL statements per request, Onroll / PostGraphile",
    "one request alone, median ms, Onroll / PostGraphile (ratio)",
    `p99 ms at ${most} connections, Onroll / PostGraphile (ratio)`,
    "peak resident MiB under this query's load, Onroll / PostGraphile",
  );
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const query of QUERIES) {
    const r = results[query.key];
    const cells = [`${query.title} (${sizes[query.key]} rows)`];
    for (const c of SETTINGS.connections) {
      const [o, p] = [mean(r.rps[c].onroll), mean(r.rps[c].postgraphile)];
      // wrk counts the requests that finished within the run: a server
      // whose every request takes longer than the run scores 0.
      const note = o === 0 || p === 0 ? "no request finished within a run" : ratio(o, p);
      cells.push(`${int(o)} / ${int(p)} (${note})`);
    }
    const s = statements[query.key];
    cells.push(`${s.onroll.perRequest.toFixed(1)} / ${s.postgraphile.perRequest.toFixed(1)}`);
    const [lo, lp] = [r.latency.onroll, r.latency.postgraphile];
    cells.push(`${lo.toFixed(2)} / ${lp.toFixed(2)} (${ratio(lo, lp)})`);
    const [po, pp] = [Math.max(...r.p99[most].onroll), Math.max(...r.p99[most].postgraphile)];
    cells.push(`${po.toFixed(1)} / ${pp.toFixed(1)} (${ratio(po, pp)})`);
    cells.push(`${int(r.peakMiB.onroll)} / ${int(r.peakMiB.postgraphile)}`);
    lines.push(`| ${cells.join(" | ")} |`);
  }
  const breakdown = QUERIES.map((q) =>
    ["onroll", "postgraphile"]
      .map((server) => {
        const per = Object.entries(statements[q.key][server].perKeyword)
          .filter(([, n]) => n >= 0.05)
          .map(([k, n]) => `${n.toFixed(1)} ${k}`)
          .join(" + ");
        return `(${q.key}) ${server}: ${per || "none"}`;
      })
      .join("; "),
  );
  const idle = statements[QUERIES[0].key].onroll;
  const idleTotal = Object.values(idle.idle).reduce((a, b) => a + b, 0);
  return [
    "",
    lines.join("\n"),
    "",
    `Data: ${SETTINGS.schools} schools × ${SETTINGS.students} pupils (wonde-sim seed ${SETTINGS.seed}), ` +
      `filled by Onroll's FULL syncs in ${syncSeconds.toFixed(0)} s: ${counts}. ` +
      `Rows asked for: school ${ids.school}, class ${ids.class} (${ids.classSize} current members, the median class), student ${ids.student}.`,
    `wrk: ${SETTINGS.threads} threads, ${SETTINGS.duration} s a run, ${SETTINGS.rounds} rounds per cell alternating the servers (mean shown); ` +
      `latency: wrk with 1 connection for ${SETTINGS.latencySeconds} s, median; p99: the worst round's, from wrk --latency; ` +
      `peak resident: each server's VmHWM, reset (clear_refs) before the query's loaded runs.`,
    `Statements: Execute and Query messages on the wire, ${SETTINGS.counted} sequential requests in 3 batches, each less the idle background ` +
      `measured before it (Onroll's first: ${idleTotal} statements in ${idle.idleSeconds} s), the batch with the fewest shown ` +
      `(Onroll's (a) batches: ${idle.batches.map((n) => n.toFixed(1)).join(", ")}). By kind: ${breakdown.join("; ")}.`,
    `Onroll's requested cost of each query (docs/limits.md; from ${SETTINGS.expensive} on, such operations run a few at a time): ` +
      QUERIES.map((q) => `(${q.key}) ${costs[q.key]}`).join(", ") + ".",
  ].join("\n");
}

let failed = false;
const cleanup = async () => {
  await stopAll();
  try {
    psql(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`, "postgres");
  } catch (err) {
    say(`could not drop ${DATABASE}: ${err.message}`);
  }
  if (!failed && !process.env.BENCH_KEEP_SCRATCH) rmSync(SCRATCH, { recursive: true, force: true });
  else say(`logs kept in ${SCRATCH}`);
};
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, async () => {
    failed = true;
    await cleanup();
    process.exit(130);
  });
}
try {
  await main();
} catch (err) {
  failed = true;
  say(err.stack ?? String(err));
  process.exitCode = 1;
} finally {
  await cleanup();
}

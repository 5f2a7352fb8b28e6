// What the end-to-end scripts share: starting `onroll demo`, reading the
// labelled lines it prints, stopping it whatever happens, and the small
// helpers of a test script (bounded waits, assertions, error text).
//
// ONROLL_BIN names the binary (default: target/debug/onroll under the repo
// root, or under $CARGO_TARGET_DIR when that is set).

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BIN =
  process.env.ONROLL_BIN ??
  path.join(
    process.env.CARGO_TARGET_DIR ? path.resolve(process.env.CARGO_TARGET_DIR) : path.join(REPO, 'target'),
    'debug',
    'onroll',
  );
// ---------------------------------------------------------------- the demo

/** The running demo: its process, when it is gone, the last lines of its log. */
export const demo = { child: null, exited: null, stderr: [], interrupted: false };

function remember(lines, line, keep) {
  lines.push(line);
  if (lines.length > keep) lines.splice(0, lines.length - keep);
}

export function demoLog(lines = 80) {
  const tail = demo.stderr.slice(-lines);
  return tail.length ? tail.map((l) => `  | ${l}`).join('\n') : '  | (the demo wrote nothing on stderr)';
}

/**
 * Starts `onroll demo` with `args`; resolves with the values of the
 * `wanted` labelled lines (`Label:  value`) once all are printed, within
 * `limit` ms.
 */
export function startDemo(args, wanted, limit) {
  if (!existsSync(BIN)) {
    throw new Error(`no onroll binary at ${BIN}: run \`cargo build --bin onroll\` or set ONROLL_BIN`);
  }
  const child = spawn(BIN, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  demo.child = child;
  // 'close', not 'exit': by then its stderr has been read to the end.
  demo.exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  createInterface({ input: child.stderr }).on('line', (line) => remember(demo.stderr, line, 400));
  const stdout = createInterface({ input: child.stdout });

  return new Promise((resolve, reject) => {
    const found = {};
    const timer = setTimeout(
      () => reject(new Error(`the demo printed no ${missing().join(', ')} within ${limit / 1000} s`)),
      limit,
    );
    const missing = () => wanted.filter((label) => !(label in found));
    stdout.on('line', (line) => {
      const match = /^([A-Za-z ]+):\s+(\S.*)$/.exec(line);
      if (match && wanted.includes(match[1]) && !(match[1] in found)) {
        found[match[1]] = match[2].trim();
        if (missing().length === 0) {
          clearTimeout(timer);
          resolve(found);
        }
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${BIN}: ${err.message}`));
    });
    demo.exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited (${signal ?? `status ${code}`}) before printing ${missing().join(', ')}`));
    });
  });
}

/** SIGTERM, then SIGKILL if it lingers; waits for it to go. */
/**
 * startDemo, or, when the demo does not start, says why with the end of its
 * log, stops it and exits 1: what every check needs before it can begin.
 */
export async function startDemoOrExit(args, wanted, limit) {
  try {
    return await startDemo(args, wanted, limit);
  } catch (err) {
    console.log(`FAIL  the demo started: ${describe(err)}`);
    console.log(demoLog(200));
    await stopDemo();
    process.exit(1);
  }
}

export async function stopDemo() {
  const child = demo.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const gone = await Promise.race([demo.exited.then(() => true), delay(15_000).then(() => false)]);
  if (!gone) {
    console.error('the demo ignored SIGTERM for 15 s: killing it');
    child.kill('SIGKILL');
    await demo.exited;
  }
}

// Whatever happens, the demo does not outlive us.
process.on('exit', () => {
  const child = demo.child;
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    demo.interrupted = true;
    console.error(`\n${signal}: stopping the demo`);
    stopDemo().finally(() => process.exit(128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 })[signal]));
  });
}
for (const kind of ['uncaughtException', 'unhandledRejection']) {
  process.on(kind, (err) => {
    demo.interrupted = true;
    console.error(`FAIL  ${kind}: ${describe(err)}`);
    console.error(demoLog());
    stopDemo().finally(() => process.exit(1));
  });
}

// ----------------------------------------------------------------- helpers

export const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function describe(err) {
  if (Array.isArray(err)) return err.map((e) => e?.message ?? JSON.stringify(e)).join('; ');
  if (err && typeof err === 'object' && 'code' in err && 'reason' in err && !(err instanceof Error)) {
    return `socket closed with ${err.code}${err.reason ? ` (${err.reason})` : ''}`;
  }
  if (err instanceof Error) return err.message;
  if (err && typeof err === 'object') {
    if (typeof err.message === 'string' && err.message) return err.message; // an ErrorEvent
    if (err.error) return describe(err.error);
    return inspect(err, { depth: 3, breakLength: Infinity });
  }
  return String(err);
}

export function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Resolves with `promise`, or fails naming what did not happen in time. */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `probe` until it returns something truthy (not a sleep: a bounded wait for a state). */
export async function until(ms, what, probe, every = 250) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error(`no ${what} within ${ms / 1000} s`);
    await delay(every);
  }
}


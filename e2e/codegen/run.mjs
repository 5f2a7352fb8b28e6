#!/usr/bin/env node
// Front-end teams' own tools against Onroll, end to end:
//   1. GraphQL Code Generator makes TypeScript types and typed documents
//      from schema.graphql and the operations in operations/ (codegen.yml);
//   2. `tsc --strict` type-checks the client code that uses them (src/);
//   3. that client, with urql, runs every operation against `onroll demo`.
// One PASS/FAIL line per step and per operation; exit status 0 only when
// all pass.
//
//   node e2e/codegen/run.mjs        (after `npm ci --prefix e2e/codegen`)

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { demoLog, describe, startDemo, stopDemo } from '../demo.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(HERE, 'node_modules', '.bin');
const DEMO_ARGS = ['demo', '--bind', '127.0.0.1:0', '--students', '40', '--incremental-every', '1s'];
const STARTUP_LIMIT = 180_000;

let failed = 0;
let passed = 0;
function report(ok, name, detail) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'PASS' : 'FAIL'}  ${name}${detail ? `: ${detail}` : ''}`);
}

/** Runs a tool of node_modules/.bin in this folder; true when it succeeded. */
function tool(name, args) {
  const result = spawnSync(path.join(BIN, name), args, { cwd: HERE, encoding: 'utf8' });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  const ok = result.status === 0;
  report(ok, `${name} ${args.join(' ')}`, ok ? '' : `\n${output.split('\n').slice(-30).join('\n')}`);
  return ok;
}

async function main() {
  if (!tool('graphql-codegen', ['--config', 'codegen.yml']) || !tool('tsc', ['-p', 'tsconfig.json'])) {
    process.exit(1);
  }
  const { runAll } = await import(path.join(HERE, 'dist', 'client.js'));
  let printed;
  try {
    printed = await startDemo(DEMO_ARGS, ['GraphiQL', 'Admin token'], STARTUP_LIMIT);
  } catch (err) {
    report(false, 'the demo started', describe(err));
    console.log(demoLog(100));
    await stopDemo();
    process.exit(1);
  }
  try {
    for (const outcome of await runAll(printed.GraphiQL, printed['Admin token'])) {
      report(true, outcome.name, outcome.detail);
    }
  } catch (err) {
    report(false, 'operations with urql', describe(err));
    console.log(demoLog(40));
  } finally {
    await stopDemo();
  }
  console.log(`\n${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main();

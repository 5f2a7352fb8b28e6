#!/usr/bin/env node
// GraphiQL as a front-end developer first meets it, with no internet: the
// page Onroll serves at GET /graphql, in headless Chromium (Debian's
// `chromium-headless-shell`), against `onroll demo`. Every request the page
// makes to any other host is refused and counted, so the page must work
// from the server alone. Checks, one PASS/FAIL line each:
//   1. without a token the page loads and its banner says the schema needs
//      one and where to put it;
//   2. with the demo's admin token in the Headers tab, the demo's printed
//      subscription runs, a leaver is made in the simulator, and the
//      leaver's LEFT_SCHOOL event appears in the result pane; a screenshot
//      of that is written to e2e/graphiql/screenshots/graphiql-leaver.png;
//   3. no request left the server's host.
//
//   node e2e/graphiql/screenshot.mjs
//
// CHROMIUM names the browser (default /usr/bin/chromium-headless-shell);
// ONROLL_BIN the binary, as in ../demo.mjs.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';
import { assert, delay, demoLog, describe, startDemoOrExit, stopDemo, until } from '../demo.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium-headless-shell';
const DEMO_ARGS = ['demo', '--bind', '127.0.0.1:0', '--students', '40', '--incremental-every', '1s'];
const WANTED = ['GraphiQL', 'Admin token', 'Leaver curl'];
const STARTUP_LIMIT = 180_000;
const PAGE_LIMIT = 30_000;
const EVENT_LIMIT = 45_000;

/** The subscription the demo prints, so the test runs what a newcomer would paste. */
const SUBSCRIPTION = `subscription {
  deactivations {
    cursor kind reason
    person {
      __typename
      ... on Student { forename surname }
      ... on Staff { forename surname }
      ... on Guardian { forename surname }
    }
  }
}`;

const results = [];
async function check(name, body) {
  try {
    const detail = await body();
    results.push({ ok: true });
    console.log(`PASS  ${name}${detail ? `: ${detail}` : ''}`);
  } catch (err) {
    results.push({ ok: false });
    console.log(`FAIL  ${name}: ${describe(err)}`);
  }
}

/** The text of an element, or '' while it is not there. */
const textOf = (page, selector) =>
  page.evaluate((s) => document.querySelector(s)?.innerText ?? '', selector);

async function main() {
  const printed = await startDemoOrExit(DEMO_ARGS, WANTED, STARTUP_LIMIT);
  const pageUrl = printed.GraphiQL;
  const origin = new URL(pageUrl).origin;
  const leaverUrl = /(https?:\/\/\S+\/leave)\b/.exec(printed['Leaver curl'])?.[1];

  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in CI has no user namespace for Chromium's sandbox.
    args: ['--no-sandbox', '--disable-gpu', '--window-size=1400,900'],
    defaultViewport: { width: 1400, height: 900 },
  });
  const offsite = [];
  try {
    const page = await browser.newPage();
    const frames = [];
    const cdp = await page.createCDPSession();
    await cdp.send('Network.enable');
    cdp.on('Network.webSocketFrameReceived', ({ response }) => frames.push(response.payloadData));
    await page.setRequestInterception(true);
    page.on('request', (request) => {
      const url = request.url();
      if (url.startsWith(origin) || url.startsWith(origin.replace(/^http/, 'ws')) || url.startsWith('data:')) {
        request.continue();
      } else {
        offsite.push(url);
        request.abort('internetdisconnected');
      }
    });

    await check('without a token, the page explains what the schema needs', async () => {
      await page.goto(pageUrl, { waitUntil: 'load', timeout: PAGE_LIMIT });
      const hint = await until(PAGE_LIMIT, 'banner about the token', async () => {
        const text = await textOf(page, '#onroll-hint');
        return text.includes('Headers') ? text : null;
      });
      const headers = await textOf(page, '.graphiql-editor-tool');
      assert(headers.includes('Authorization') && headers.includes('Bearer'), `the header editor shows ${JSON.stringify(headers)}`);
      return hint.slice(0, 90);
    });

    await check('with a token, the printed subscription shows a live leaver', async () => {
      assert(leaverUrl, `no leave URL in the demo's "Leaver curl" line: ${printed['Leaver curl']}`);
      await page.evaluate(
        (token, query) => {
          // What the first visit stored (its tab) would win over these.
          localStorage.clear();
          localStorage.setItem('graphiql:headers', JSON.stringify({ Authorization: `Bearer ${token}` }));
          localStorage.setItem('graphiql:query', query);
        },
        printed['Admin token'],
        SUBSCRIPTION,
      );
      await page.reload({ waitUntil: 'load', timeout: PAGE_LIMIT });
      // GraphiQL fetches the schema before its header editor exists, so,
      // as the banner tells a person to, the schema is fetched again.
      const refetch = await until(PAGE_LIMIT, 'the re-fetch schema button', () =>
        page.$('[aria-label="Re-fetch GraphQL schema"]'),
      );
      await refetch.click();
      await until(PAGE_LIMIT, 'schema loaded (banner gone, Docs ready)', async () => {
        const hint = await page.$eval('#onroll-hint', (el) => getComputedStyle(el).display);
        const button = await page.$('.graphiql-execute-button');
        return hint === 'none' && button;
      });
      const dir = path.join(HERE, 'screenshots');
      mkdirSync(dir, { recursive: true });
      await page.click('.graphiql-execute-button');
      // The subscription is live once the socket is up; give it a moment
      // before the leaver is made, as a person would.
      await delay(2_000);
      const left = await fetch(leaverUrl, { method: 'POST' });
      assert(left.ok, `the simulator answered ${left.status} to the leaver request`);
      // The leaver's event is read from the page's socket and from the
      // result pane, which shows a subscription's latest answer: the demo
      // suggests a leaver whose guardians keep another child, so nothing
      // follows it.
      try {
        await until(EVENT_LIMIT, "the leaver's LEFT_SCHOOL event on the page's socket", () =>
          frames.find((f) => f.includes('LEFT_SCHOOL') && f.includes('"Student"')),
        );
        await until(PAGE_LIMIT, 'the named leaver in the result pane', async () => {
          const text = await textOf(page, '.graphiql-response');
          return text.includes('LEFT_SCHOOL') && /"__typename":\s*"Student"[\s\S]*"forename":\s*"[^"]+"/.test(text);
        });
      } catch (err) {
        await page.screenshot({ path: path.join(dir, 'failure.png') });
        const shown = await textOf(page, '.graphiql-response');
        throw new Error(`${describe(err)}; the result pane shows ${JSON.stringify(shown.slice(0, 300))}`);
      }
      const file = path.join(dir, 'graphiql-leaver.png');
      await page.screenshot({ path: file });
      const leaver = JSON.parse(frames.find((f) => f.includes('LEFT_SCHOOL') && f.includes('"Student"')));
      const person = leaver.payload?.data?.deactivations?.person ?? {};
      return `${person.forename} ${person.surname} left; screenshot ${path.relative(process.cwd(), file)}`;
    });

    await check('nothing was fetched from another host', async () => {
      assert(offsite.length === 0, `the page asked for ${offsite.join(', ')}`);
    });
  } finally {
    await browser.close();
    await stopDemo();
  }
  const failed = results.filter((r) => !r.ok).length;
  if (failed) console.log(demoLog(40));
  console.log(`\n${results.length - failed}/${results.length} checks passed`);
  process.exit(failed ? 1 : 0);
}

main().catch(async (err) => {
  console.log(`FAIL  ${describe(err)}`);
  await stopDemo();
  process.exit(1);
});

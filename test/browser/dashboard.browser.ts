// Browser test of the dashboard (npm run test:browser; not part of npm test):
// headless Debian chromium driven by playwright-core opens the real server,
// signs in with the token, watches the accepted and refused counts rise after
// decisions are published to the DecisionLog, and saves screenshots under
// test-output/. Needs /usr/bin/chromium (apt-get install chromium).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import {
  decisionEvent, dnsblListed, queued, rateDeferred, relayDenied, startDashboard, type Dashboard,
} from '../helpers/dashboard-fixture.ts';
import { reject } from '../../src/policy/decision.ts';

const TOKEN = 'browser-test-token-4f1c';
const OUTPUT = path.resolve('test-output');
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const CHROMIUM = '/usr/bin/chromium';

async function launch(t: { after(fn: () => Promise<void>): void }): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  // launchPersistentContext passes this fresh, empty directory as --user-data-dir.
  const profile = await mkdtemp(path.join(os.tmpdir(), 'relayguard-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1440, height: 900 },
    timeout: 30_000,
  });
  t.after(async () => {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  });
  return context;
}

/** Collects console errors and uncaught page errors (a CSP violation shows up here). */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  return errors;
}

/** A believable last hour: steady accepted mail, a burst of DNSBL refusals, some relay probes. */
function fillHistory(dashboard: Dashboard, now: number): void {
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let minute = 59; minute >= 1; minute--) {
    const at = now - minute * 60_000;
    const burst = minute < 25 && minute > 10 ? 1 : 0;
    for (let i = 0; i < 6 + Math.floor(random() * 8); i++) dashboard.decisions.publish(decisionEvent(queued(), `198.51.100.${1 + Math.floor(random() * 40)}`, at));
    for (let i = 0; i < Math.floor(random() * 3) + burst * Math.floor(4 + random() * 8); i++) {
      dashboard.decisions.publish(decisionEvent(dnsblListed(), `203.0.113.${1 + Math.floor(random() * 12)}`, at, { sender: 'offers@spam.example', recipient: 'sales@example.org' }));
    }
    if (random() < 0.35) dashboard.decisions.publish(decisionEvent(relayDenied(), '192.0.2.66', at, { sender: 'x@probe.example', recipient: 'victim@elsewhere.example' }));
    if (random() < 0.25) dashboard.decisions.publish(decisionEvent(rateDeferred(), '198.51.100.200', at));
    if (random() < 0.1) {
      dashboard.decisions.publish(decisionEvent(reject('connect', 'denylist', 'denylist.listed', { code: 554, enhanced: '5.7.1', text: 'Access denied' }), '100.64.3.9', at));
    }
    for (let i = 0; i < 5 + Math.floor(random() * 7); i++) {
      dashboard.deliveries.publish({ result: 'delivered', at, queueId: `q${minute}-${i}`, recipient: `user${i}@example.org`, domain: 'example.org' });
    }
    if (random() < 0.3) dashboard.deliveries.publish({ result: 'deferred', at, queueId: `q${minute}-d`, recipient: 'ops@slow.example', domain: 'slow.example', detail: '451 4.3.0 try later' });
    if (random() < 0.12) dashboard.deliveries.publish({ result: 'bounced', at, queueId: `q${minute}-b`, recipient: 'nobody@example.net', domain: 'example.net', detail: '550 5.1.1 no such user' });
  }
  const state = dashboard.state;
  state.queue = {
    size: 14,
    oldestReceivedAt: now - 2 * 3_600_000 - 17 * 60_000,
    deferredByDomain: [
      { domain: 'slow.example', count: 9, lastError: '451 4.3.0 mailbox busy, try later' },
      { domain: 'example.net', count: 3, lastError: 'connect ETIMEDOUT 192.0.2.25:25' },
    ],
  };
  state.zones = [
    { zone: 'zen.spamhaus.org', queries: 1840, listed: 212, errors: 0, timeouts: 3, meanLatencyMs: 18.4, suspended: false },
    { zone: 'bl.spamcop.net', queries: 1836, listed: 97, errors: 0, timeouts: 11, meanLatencyMs: 42.9, suspended: false },
    { zone: 'b.barracudacentral.org', queries: 12, listed: 0, errors: 12, timeouts: 0, meanLatencyMs: 7.1, suspended: true },
  ];
  state.cache = { hits: 3120, misses: 1840 };
  state.reload = {
    at: now - 4 * 60_000, ok: false, generation: 3,
    errors: [
      { file: 'policies/relay-networks', line: 4, message: 'invalid IP address or CIDR "10.0.0.0/33"' },
      { file: 'policies/dnsbl.toml', line: 12, message: 'zones.1.weight: expected number' },
    ],
  };
}

const kpi = async (page: Page, key: string): Promise<number> =>
  Number((await page.locator(`[data-kpi="${key}"] .value`).innerText()).replace(/[^0-9]/g, ''));

/** Waits until the page shows these accepted and rejected counts. */
async function countsReach(page: Page, accepted: number, rejected: number): Promise<void> {
  // No named helper inside the predicate: tsx would wrap it in a function the page does not have.
  await page.waitForFunction(
    ([a, r]) =>
      Number(document.querySelector('[data-kpi="accepted"] .value')?.textContent?.replace(/[^0-9]/g, '')) === a &&
      Number(document.querySelector('[data-kpi="rejected"] .value')?.textContent?.replace(/[^0-9]/g, '')) === r,
    [accepted, rejected] as const,
    { timeout: 15_000 },
  );
}

test('the dashboard shows accepted and refused counts rising live, with no script or CSP errors', async (t) => {
  const dashboard = await startDashboard({ token: TOKEN, pollIntervalMs: 300 });
  t.after(() => dashboard.close());
  fillHistory(dashboard, Date.now());
  const context = await launch(t);
  const page = await context.newPage();
  const errors = watchErrors(page);

  const response = await page.goto(`${dashboard.url}/?token=${TOKEN}`);
  assert.equal(response?.status(), 200);
  assert.equal(new URL(page.url()).search, '', 'the token left the address bar');
  await page.waitForFunction(() => Number(document.body.dataset.updates ?? 0) >= 1, undefined, { timeout: 15_000 });

  const acceptedBefore = await kpi(page, 'accepted');
  const rejectedBefore = await kpi(page, 'rejected');
  assert.ok(acceptedBefore > 0 && rejectedBefore > 0, 'history is on the page');

  dashboard.decisions.publish(decisionEvent(queued(), '198.51.100.7', Date.now(), { sender: 'alice@example.org', recipient: 'bob@example.com' }));
  dashboard.decisions.publish(decisionEvent(relayDenied(), '192.0.2.250', Date.now(), { sender: 'probe@bad.example', recipient: 'victim@other.example' }));

  await countsReach(page, acceptedBefore + 1, rejectedBefore + 1);
  const latest = page.locator('#recent tbody tr').first();
  assert.match(await latest.innerText(), /192\.0\.2\.250[\s\S]*relay-networks[\s\S]*relay\.denied/);
  assert.match(await page.locator('#refused tbody').innerText(), /192\.0\.2\.250/);
  assert.match(await page.locator('#reload').innerText(), /policies\/relay-networks:4: invalid IP address/);
  assert.match(await page.locator('#zones tbody').innerText(), /b\.barracudacentral\.org[\s\S]*suspended/);
  assert.match(await page.locator('#dnsbl-facts').innerText(), /63%\s+cache hit ratio/);

  await page.mouse.move(700, 420); // a hover tooltip on the traffic chart, for the screenshot
  await mkdir(OUTPUT, { recursive: true });
  await page.screenshot({ path: path.join(OUTPUT, 'dashboard.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: path.join(OUTPUT, 'dashboard-dark.png'), fullPage: true });
  assert.deepEqual(errors, []);
});

test('a browser without a session gets the login form, and the token opens the dashboard', async (t) => {
  const dashboard = await startDashboard({ token: TOKEN, pollIntervalMs: 300 });
  t.after(() => dashboard.close());
  const context = await launch(t);
  const page = await context.newPage();
  const errors = watchErrors(page);

  const first = await page.goto(dashboard.url);
  assert.equal(first?.status(), 401);
  await page.fill('#token', 'wrong-token');
  await page.click('button[type=submit]');
  await page.waitForSelector('.error');
  assert.match(await page.locator('.error').innerText(), /not right/);
  await mkdir(OUTPUT, { recursive: true });
  await page.screenshot({ path: path.join(OUTPUT, 'login.png') });

  await page.fill('#token', TOKEN);
  await page.click('button[type=submit]');
  await page.waitForFunction(() => Number(document.body.dataset.updates ?? 0) >= 1, undefined, { timeout: 15_000 });
  assert.equal(await page.locator('#instance').innerText(), 'relay-test');
  assert.match(await page.locator('#refused tbody').innerText(), /No client refused/);

  // A source that fails shows its error in its own card; the page keeps working.
  dashboard.state.failing.queue = 'spool directory unreadable';
  dashboard.state.ready = { listeners: true, spoolWritable: false };
  await page.waitForSelector('#queue-facts .error-box');
  assert.match(await page.locator('#queue-facts').innerText(), /spool directory unreadable/);
  await page.waitForSelector('#banner:not([hidden])');
  assert.match(await page.locator('#banner').innerText(), /spool is not writable/);
  const cookies = await context.cookies(dashboard.url);
  const session = cookies.find((c) => c.name === 'relayguard_session');
  assert.ok(session?.httpOnly && session.sameSite === 'Strict');
  assert.ok(!session.value.includes(TOKEN));
  // The login page's error was a 401 document, not a script error; anything else is.
  assert.deepEqual(errors.filter((e) => !/401/.test(e)), []);
});

test('against a running relay: the counts rise after a message is sent and one is refused over SMTP', async (t) => {
  const { sendAcceptedAndRefused, startDashboardHarness } = await import('../helpers/relay-harness.ts');
  const { harness } = await startDashboardHarness(t, TOKEN);
  const url = `http://127.0.0.1:${harness.relay.http?.port}`;
  const context = await launch(t);
  const page = await context.newPage();
  const errors = watchErrors(page);
  assert.equal((await page.goto(`${url}/?token=${TOKEN}`))?.status(), 200);
  await page.waitForFunction(() => Number(document.body.dataset.updates ?? 0) >= 1, undefined, { timeout: 15_000 });
  const acceptedBefore = await kpi(page, 'accepted');
  const rejectedBefore = await kpi(page, 'rejected');

  assert.equal(await sendAcceptedAndRefused(harness.port('mx'), 'seen in the browser'), 554);

  await countsReach(page, acceptedBefore + 1, rejectedBefore + 1);
  assert.match(await page.locator('#refused tbody').innerText(), /127\.0\.0\.3/);
  await mkdir(OUTPUT, { recursive: true });
  await page.screenshot({ path: path.join(OUTPUT, 'dashboard-live-relay.png'), fullPage: true });
  assert.deepEqual(errors, []);
});

test('a cluster instance: the Redis chip says up, then DOWN with a banner while it is unreachable; hidden for a single instance', async (t) => {
  const dashboard = await startDashboard({ token: TOKEN, pollIntervalMs: 300 });
  t.after(() => dashboard.close());
  const redis = { address: 'redis://10.0.0.5:6379', since: Date.now() - 60_000, outages: 0, failedOperations: 0, skippedOperations: 0, lastError: null, failOpen: true };
  dashboard.state.cluster = { shared: true, redis: { ...redis, state: 'up', up: true } };
  const context = await launch(t);
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${dashboard.url}/?token=${TOKEN}`);
  const chip = page.locator('#cluster');
  await chip.filter({ hasText: 'Redis up' }).waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('#banner').isVisible(), false);

  dashboard.state.cluster = { shared: true, redis: { ...redis, state: 'down', up: false, outages: 1, lastError: 'connection closed' } };
  await chip.filter({ hasText: 'Redis DOWN' }).waitFor({ timeout: 15_000 });
  assert.match(await page.locator('#banner').innerText(), /Redis \(redis:\/\/10\.0\.0\.5:6379\) is unreachable: this instance counts limits on its own/);
  assert.match(String(await chip.getAttribute('title')), /last error: connection closed/);

  dashboard.state.cluster = { shared: false };
  await chip.waitFor({ state: 'hidden', timeout: 15_000 });
  await page.locator('#banner').waitFor({ state: 'hidden', timeout: 15_000 });
  assert.deepEqual(errors, []);
});

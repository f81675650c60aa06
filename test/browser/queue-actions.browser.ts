// Browser test of the dashboard's queue actions (issue 19 item 4; npm run
// test:browser): a running relay (startRelay, the real composition with its
// spool and queue runner) receives three messages over SMTP that its upstream
// sink defers; headless Debian chromium signs in, searches the queue, holds
// two messages, deletes one and releases the other from the page; the
// upstream gets exactly the released message and the one never held. A POST
// from the page without the CSRF token, or with a wrong one, is refused (403)
// and changes nothing. Screenshot under test-output/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startDashboardHarness } from '../helpers/relay-harness.ts';
import { waitFor } from '../helpers/wait-for.ts';

const TOKEN = 'browser-queue-token-77ae';
const OUTPUT = path.resolve('test-output');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

async function launch(t: { after(fn: () => Promise<void>): void }): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  const profile = await mkdtemp(path.join(os.tmpdir(), 'relayguard-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1440, height: 900 }, timeout: 30_000,
  });
  t.after(async () => {
    await context.close().catch(() => undefined);
    await rm(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }).catch(() => undefined);
  });
  return context;
}

function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  return errors;
}

/** Fills the search form, submits it, and waits for the table to be redrawn. */
async function search(page: Page, fields: { sender?: string; state?: string }): Promise<void> {
  const before = Number(await page.evaluate(() => document.body.dataset.queueUpdates ?? 0));
  await page.fill('#qv-sender', fields.sender ?? '');
  await page.selectOption('#qv-state', fields.state ?? '');
  await page.click('#qv-go');
  await page.waitForFunction((n) => Number(document.body.dataset.queueUpdates ?? 0) > n, before, { timeout: 15_000 });
}

/** Ticks every row shown, clicks an action button, waits for the answer line and the redrawn table. */
async function actOnShown(page: Page, action: string): Promise<string> {
  await page.check('#qv-check-all');
  const before = Number(await page.evaluate(() => document.body.dataset.queueUpdates ?? 0));
  await page.click(`#qv-bulk button[data-action="${action}"]`);
  await page.waitForFunction((n) => Number(document.body.dataset.queueUpdates ?? 0) > n, before, { timeout: 15_000 });
  return page.locator('#qv-result').innerText();
}

test('hold, delete and release from the dashboard against a running relay; a POST without the CSRF token is refused', async (t) => {
  const { harness, sink } = await startDashboardHarness(t, TOKEN);
  const relay = harness.relay;
  const url = `http://127.0.0.1:${relay.http?.port}`;
  sink.rcptReply('stuck@example.test', '451 4.3.0 mailbox busy, try later');
  const { default: nodemailer } = await import('nodemailer');
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: harness.port('mx'), secure: false, ignoreTLS: true });
  for (const who of ['keep', 'drop', 'other']) {
    await transport.sendMail({ envelope: { from: `${who}@sender.test`, to: ['stuck@example.test'] }, raw: `From: ${who}@sender.test\r\nSubject: ${who}\r\n\r\nbody of ${who}\r\n` });
  }
  transport.close();
  await waitFor(() => relay.spool.stats().size === 3 && relay.runner.stats().deferred >= 3, 15_000, 'three messages accepted and deferred by the upstream');

  const context = await launch(t);
  const page = await context.newPage();
  const errors = watchErrors(page);
  page.on('dialog', (dialog) => void dialog.accept());
  assert.equal((await page.goto(`${url}/?token=${TOKEN}`))?.status(), 200);
  await page.waitForFunction(() => document.body.dataset.queueReady === 'yes', undefined, { timeout: 15_000 });
  // serve wires account anomaly detection ([accounts] is on by default): the panel is live and empty.
  assert.match(await page.locator('#accounts').innerText(), /No suspect account/);
  await waitFor(async () => {
    await search(page, {});
    return (await page.locator('#qv-table tbody tr[data-id]').count()) === 3;
  }, 15_000, 'three rows in the queue view');

  // Hold keep@ and drop@ (one search each), so the upstream can recover without them going out.
  await search(page, { sender: 'keep@' });
  assert.match(await actOnShown(page, 'hold'), /hold: 1 done/);
  await search(page, { sender: 'drop@' });
  assert.match(await actOnShown(page, 'hold'), /hold: 1 done/);
  assert.equal(relay.spool.heldIds().length, 2);
  await search(page, { state: 'held' });
  assert.equal(await page.locator('#qv-table tbody tr[data-state="held"]').count(), 2);

  // The page's detail view: envelope and headers from the spool, never the body.
  await page.locator('#qv-table tbody tr[data-id] button[data-show]').first().click();
  await page.waitForSelector('#qv-detail:not([hidden]) #qv-headers');
  assert.match(await page.locator('#qv-headers').innerText(), /Subject: (keep|drop)/);
  assert.doesNotMatch(await page.locator('#qv-detail').innerText(), /body of/);
  await mkdir(OUTPUT, { recursive: true });
  await page.screenshot({ path: path.join(OUTPUT, 'dashboard-queue.png'), fullPage: true });

  // CSRF: the page's own origin and session, but no token or a wrong one: 403, nothing changes.
  // No named helper inside the page function: tsx would wrap it in a function the page does not have.
  const forged = await page.evaluate(async () => Promise.all(([{}, { 'x-csrf-token': 'not-the-token' }] as Array<Record<string, string>>).map(async (extra) => (await fetch('/api/queue/actions', {
    method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json', ...extra },
    body: JSON.stringify({ action: 'delete', query: { state: 'held' } }),
  })).status)));
  assert.deepEqual(forged, [403, 403]);
  assert.equal(relay.spool.heldIds().length, 2, 'nothing deleted');

  // The upstream recovers: only the message that was never held goes out.
  sink.rcptReply('stuck@example.test', undefined);
  await waitFor(() => relay.spool.stats().size === 2, 15_000, 'the message that was not held delivered on its retry');
  assert.deepEqual(sink.messages.map((m) => m.from), ['other@sender.test']);

  await search(page, { sender: 'drop@', state: 'held' });
  assert.match(await actOnShown(page, 'delete'), /delete: 1 done/);
  await search(page, { sender: 'keep@', state: 'held' });
  assert.match(await actOnShown(page, 'release'), /release: 1 done/);
  await waitFor(() => relay.spool.stats().size === 0, 15_000, 'the released message delivered, the deleted one gone');
  assert.deepEqual(sink.messages.map((m) => m.from), ['other@sender.test', 'keep@sender.test'], 'each once; the deleted message never went out');

  const audit = harness.logs.filter((l) => l.event === 'dashboard.action').map((l) => [l.action, (l.ids as string[]).length, /^session:[0-9a-f]{8}$/.test(String(l.who))]);
  assert.deepEqual(audit, [['hold', 1, true], ['hold', 1, true], ['delete', 1, true], ['release', 1, true]]);
  assert.equal(harness.logs.filter((l) => l.event === 'dashboard.action_refused').length, 2);
  assert.deepEqual(errors.filter((e) => !/403/.test(e)), []);
});

test('suspect accounts panel: trigger, reason, evidence and held count shown; lock and release buttons reach AccountControl with the session as who', async (t) => {
  const { startQueueDashboard, suspect, TestAccounts } = await import('../helpers/queue-dashboard.ts');
  const accounts = new TestAccounts([suspect('mallory', 7)]);
  const qd = await startQueueDashboard(t, { token: TOKEN, accounts });
  const context = await launch(t);
  const page = await context.newPage();
  const errors = watchErrors(page);
  assert.equal((await page.goto(`${qd.url}/?token=${TOKEN}`))?.status(), 200);
  await page.waitForFunction(() => document.body.dataset.queueReady === 'yes', undefined, { timeout: 15_000 });
  const card = page.locator('#accounts .suspect[data-user="mallory"]');
  const shown = await card.innerText();
  assert.match(shown, /mallory/);
  assert.match(shown, /7 held message/);
  assert.match(shown, /recipient_domains \(hold, .*\): mallory: 212 distinct recipient domains in 10 min/);
  assert.match(shown, /distinct_domains_10m=212/);
  await mkdir(OUTPUT, { recursive: true });
  await page.locator('#accounts-view').screenshot({ path: path.join(OUTPUT, 'dashboard-suspects.png') });
  await card.locator('button', { hasText: 'Lock account' }).click();
  await page.waitForFunction(() => /locked/.test(document.querySelector('#accounts')?.textContent ?? ''), undefined, { timeout: 15_000 });
  await page.locator('#accounts .suspect[data-user="mallory"] button', { hasText: 'Release, keep mail held' }).click();
  await page.waitForSelector('#accounts >> text=No suspect account.', { timeout: 15_000 });
  assert.equal(accounts.calls.length, 2);
  assert.match(accounts.calls[0] ?? '', /^lock mallory by session:[0-9a-f]{8}$/);
  assert.match(accounts.calls[1] ?? '', /^release mallory by session:[0-9a-f]{8} releaseHeld=false$/);
  assert.deepEqual(errors, []);
});

// Issue 3 end to end: the whole relay (startRelay) on loopback, policy files
// edited on disk while it runs. A valid edit reaches new connections while an
// open one keeps its snapshot; an invalid edit changes nothing and its
// file:line shows in lastReload, the log and GET /api/status; editor-style
// rename and SIGHUP reload (a real SIGHUP to `relayguard serve`:
// policy-reload.slow.ts); reloads under load lose no message and drop no
// connection; the denylist refuses at connect with the entry's reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, smarthostTo, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { codeOf, getJson, greetingOf, message, messageIds, openSession, transaction } from '../helpers/e2e-relay-client.ts';
import type { SmtpTalk } from '../helpers/smtp-talk.ts';
import type { ReloadResult } from '../../src/config/policy-store.ts';

const OUTSIDE = '127.0.0.3';
const BASE_POLICIES = {
  'local-domains': 'example.test\n',
  'relay-networks': '127.0.0.1\n',
  denylist: '# refused at connect\n127.0.0.4   known spam source, ticket 4711\n',
};

async function start(t: { after: (fn: () => Promise<void>) => void }, policies: Record<string, string> = BASE_POLICIES): Promise<{ harness: RelayHarness; sink: SmtpSink }> {
  const sink = await startSmtpSink();
  const harness = await startHarness({ deliveryWorker: false, config: HARNESS_LISTENERS + smarthostTo(sink.port), policies });
  t.after(async () => {
    await harness.stop();
    await sink.close();
  });
  return { harness, sink };
}

/** Waits until the store has made a reload attempt (ok or failed) after `since` was the last one. */
async function reloaded(harness: RelayHarness, since: ReloadResult, what: string): Promise<void> {
  await waitFor(() => harness.relay.store.lastReload !== since, 10_000, what);
}

test('denylist: 554 5.7.1 with the entry\'s reason at connect, logged with the rule; others are greeted', async (t) => {
  const { harness } = await start(t);
  const refused = await greetingOf(harness.port('mx'), '127.0.0.4');
  assert.equal(refused.reply?.lines.join('\n'), '554 5.7.1 known spam source, ticket 4711');
  assert.ok(refused.closedAfter, 'the connection is closed after the refusal');
  const greeted = await greetingOf(harness.port('mx'), OUTSIDE);
  assert.equal(greeted.reply?.code, 220);
  await waitFor(() => harness.logs.some((l) => l.client === '127.0.0.4' && l.decision === 'reject'), 5000, 'the refusal is logged');
  const line = harness.logs.find((l) => l.client === '127.0.0.4' && l.decision === 'reject') as Record<string, unknown>;
  assert.equal(line.stage, 'connect');
  assert.equal(line.rule, 'denylist');
  assert.equal(line.reason, 'denylist.listed');
  assert.equal(line.reply, '554 5.7.1 known spam source, ticket 4711');
  const detail = line.detail as Record<string, unknown>;
  assert.equal(detail.cidr, '127.0.0.4');
  assert.equal(detail.line, 2);
  assert.equal(path.basename(String(detail.file)), 'denylist');
});

test('a valid denylist edit refuses new connections; a connection already open keeps its snapshot', async (t) => {
  const { harness, sink } = await start(t);
  const open = await openSession({ port: harness.port('mx'), from: OUTSIDE });
  t.after(() => open.close());
  const before = harness.relay.store.lastReload;
  const generation = harness.relay.store.current().generation;
  await harness.dir.writePolicy('denylist', `${BASE_POLICIES.denylist}127.0.0.3  added while running\n`);
  await reloaded(harness, before, 'the watcher reloads after the denylist edit');
  assert.equal(harness.relay.store.lastReload.ok, true);
  assert.equal(harness.relay.store.current().generation, generation + 1);
  assert.match(harness.relay.store.lastReload.reason, /denylist/);

  const fresh = await greetingOf(harness.port('mx'), OUTSIDE);
  assert.equal(fresh.reply?.lines.join('\n'), '554 5.7.1 added while running');

  // The open session started under the old policy and still sends.
  const sent = await transaction(open, '<a@sender.test>', ['<kept@example.test>'], message('kept-snapshot'));
  assert.match(sent.queued?.lines[0] ?? '', /^250 2\.0\.0 Ok: queued as /);
  await sink.waitFor(1);
  assert.deepEqual(sink.messages[0]?.to, ['kept@example.test']);
});

test('a domain added to local-domains is accepted on new connections only', async (t) => {
  const { harness, sink } = await start(t);
  const open = await openSession({ port: harness.port('mx'), from: OUTSIDE });
  t.after(() => open.close());
  const before = harness.relay.store.lastReload;
  await harness.dir.writePolicy('local-domains', 'example.test\nNew.Example.\n');
  await reloaded(harness, before, 'reload after the local-domains edit');
  assert.equal(harness.relay.store.lastReload.ok, true);

  const old = await transaction(open, '<a@sender.test>', ['<user@new.example>'], message('old-snapshot'));
  assert.equal(codeOf(old.rcpt[0]!), '554 5.7.1', 'the open session still relays nothing to new.example');

  const fresh = await openSession({ port: harness.port('mx'), from: OUTSIDE });
  t.after(() => fresh.close());
  const sent = await transaction(fresh, '<a@sender.test>', ['<user@NEW.example.>'], message('new-snapshot'));
  assert.equal(codeOf(sent.rcpt[0]!), '250 2.1.5');
  assert.match(sent.queued?.lines[0] ?? '', /^250 /);
  await sink.waitFor(1);
  assert.deepEqual(sink.messages[0]?.to, ['user@new.example']);
  assert.deepEqual([...messageIds(sink.messages.map((m) => m.raw)).keys()], ['new-snapshot']);
});

test('an invalid edit changes nothing; its file:line is in lastReload, the log and /api/status; the fix applies', async (t) => {
  const { harness, sink } = await start(t);
  const generation = harness.relay.store.current().generation;
  const before = harness.relay.store.lastReload;
  // Would open the relay to 127.0.0.3 if it were half-applied.
  await harness.dir.writePolicy('relay-networks', '127.0.0.1\n127.0.0.3\n10.0.0.300/8   # typo\n');
  await reloaded(harness, before, 'a reload attempt after the broken edit');

  const last = harness.relay.store.lastReload;
  assert.equal(last.ok, false);
  assert.equal(last.generation, generation, 'the generation in force did not change');
  assert.equal(harness.relay.store.current().generation, generation);
  assert.equal(last.problems.length, 1);
  assert.equal(path.basename(last.problems[0]!.file), 'relay-networks');
  assert.equal(last.problems[0]!.line, 3);
  assert.match(last.errors[0]!, /relay-networks:3: /);
  assert.ok(harness.logs.some((l) => l.event === 'policy.problem' && /relay-networks:3: /.test(String(l.msg))), 'file:line is logged');

  const status = await getJson(harness.relay.http, '/api/status');
  const reload = status.reload as { ok: boolean; generation: number; errors: Array<{ file: string; line: number; message: string }> };
  assert.equal(reload.ok, false);
  assert.equal(reload.generation, generation);
  assert.equal(reload.errors.length, 1);
  assert.equal(path.basename(reload.errors[0]!.file), 'relay-networks');
  assert.equal(reload.errors[0]!.line, 3);
  assert.ok(reload.errors[0]!.message.length > 0);

  // The old rule is still in force over the wire: 127.0.0.3 may not relay.
  const outside = await openSession({ port: harness.port('mx'), from: OUTSIDE });
  t.after(() => outside.close());
  const refused = await transaction(outside, '<a@sender.test>', ['<user@foreign.test>'], message('not-relayed'));
  assert.equal(refused.rcpt[0]!.lines[0], '554 5.7.1 <user@foreign.test>: Relay access denied');

  // Fixing the line applies the whole edit.
  const beforeFix = harness.relay.store.lastReload;
  await harness.dir.writePolicy('relay-networks', '127.0.0.1\n127.0.0.3\n');
  await reloaded(harness, beforeFix, 'a reload after the fix');
  assert.equal(harness.relay.store.lastReload.ok, true);
  assert.equal(harness.relay.store.current().generation, generation + 1);
  const fixed = await getJson(harness.relay.http, '/api/status');
  assert.deepEqual({ ok: (fixed.reload as { ok: boolean }).ok, errors: (fixed.reload as { errors: unknown[] }).errors }, { ok: true, errors: [] });
  const again = await openSession({ port: harness.port('mx'), from: OUTSIDE });
  t.after(() => again.close());
  const relayed = await transaction(again, '<a@sender.test>', ['<user@foreign.test>'], message('relayed-after-fix'));
  assert.equal(codeOf(relayed.rcpt[0]!), '250 2.1.5');
  await sink.waitFor(1);
  assert.deepEqual([...messageIds(sink.messages.map((m) => m.raw)).keys()], ['relayed-after-fix']);
});

test('an editor-style write (temp file, then rename over the original) is picked up', async (t) => {
  const { harness } = await start(t);
  const generation = harness.relay.store.current().generation;
  const policies = harness.relay.store.current().config.policiesDir;
  const temp = path.join(policies, '.denylist.swp');
  await writeFile(temp, `${BASE_POLICIES.denylist}127.0.0.3   renamed into place\n`);
  await rename(temp, path.join(policies, 'denylist'));
  await waitFor(() => harness.relay.store.current().generation === generation + 1, 10_000, 'the rename is seen');
  assert.equal(harness.relay.store.lastReload.ok, true);
  const fresh = await greetingOf(harness.port('mx'), OUTSIDE);
  assert.equal(fresh.reply?.lines.join('\n'), '554 5.7.1 renamed into place');
});

test('SIGHUP (store.handleSighup) reloads an edit the watcher was not told about', async (t) => {
  const { harness } = await start(t);
  // Stop the watcher so only the SIGHUP path can pick the edit up.
  harness.relay.store.close();
  const generation = harness.relay.store.current().generation;
  await harness.dir.writePolicy('denylist', '127.0.0.3  refused after SIGHUP\n');
  assert.equal((await greetingOf(harness.port('mx'), OUTSIDE)).reply?.code, 220, 'not applied before the signal');
  harness.relay.store.handleSighup();
  await waitFor(() => harness.relay.store.current().generation === generation + 1, 10_000, 'the SIGHUP reload');
  assert.equal(harness.relay.store.lastReload.reason, 'SIGHUP');
  assert.equal((await greetingOf(harness.port('mx'), OUTSIDE)).reply?.lines.join('\n'), '554 5.7.1 refused after SIGHUP');
});

test('reloads while clients send: all 250 messages arrive exactly once, no connection is dropped', async (t) => {
  const { harness, sink } = await start(t);
  const { store } = harness.relay;
  const CLIENTS = 5;
  const PER_CLIENT = 50;
  const EVERY = 10;
  const startGeneration = store.current().generation;
  const sessions: SmtpTalk[] = [];
  for (let c = 0; c < CLIENTS; c++) sessions.push(await openSession({ port: harness.port('mx'), from: c % 2 === 0 ? '127.0.0.1' : OUTSIDE }));
  t.after(() => sessions.forEach((s) => s.close()));

  let sendersDone = false;
  let failedReloads = 0;
  const reloader = (async () => {
    // Valid edits through the watcher, renames, SIGHUP, and a broken edit now and then.
    for (let i = 0; !sendersDone && i < 200; i++) {
      const before = store.lastReload;
      const domains = `example.test\nextra-${i}.test\n`;
      if (i % 4 === 2) {
        // A broken edit: wait for its refusal, then repair it and wait for the repair to load.
        await harness.dir.writePolicy('relay-networks', '127.0.0.1\nnot-a-network\n');
        await waitFor(() => !store.lastReload.ok || sendersDone, 10_000, `refused reload ${i}`);
        if (!store.lastReload.ok) failedReloads++;
        await harness.dir.writePolicy('relay-networks', '127.0.0.1\n');
        await waitFor(() => store.lastReload.ok || sendersDone, 10_000, `repaired reload ${i}`);
        continue;
      }
      if (i % 4 === 0) store.handleSighup();
      else if (i % 4 === 1) await harness.dir.writePolicy('local-domains', domains);
      else {
        const temp = path.join(store.current().config.policiesDir, 'local-domains.tmp');
        await writeFile(temp, domains);
        await rename(temp, path.join(store.current().config.policiesDir, 'local-domains'));
      }
      await waitFor(() => store.lastReload !== before || sendersDone, 10_000, `reload ${i}`);
    }
  })();

  const outcomes: string[] = [];
  await Promise.all(
    sessions.map(async (session, c) => {
      let seen = store.current().generation;
      for (let m = 0; m < PER_CLIENT; m++) {
        if (m > 0 && m % EVERY === 0) {
          // Make sure at least one swap happened since the last checkpoint.
          await waitFor(() => store.current().generation > seen, 15_000, `a swap while client ${c} is sending`);
          seen = store.current().generation;
        }
        const id = `load-${c}-${m}`;
        const sent = await transaction(session, '<load@sender.test>', ['<load@example.test>'], message(id));
        outcomes.push(`${id} ${sent.queued?.code ?? sent.rcpt[0]?.code ?? sent.mail.code}`);
      }
      assert.equal(session.closed, false, `client ${c} still connected`);
      assert.equal((await session.command('NOOP')).code, 250);
    }),
  ).finally(() => {
    sendersDone = true;
  });
  await reloader;

  assert.equal(outcomes.length, CLIENTS * PER_CLIENT);
  assert.deepEqual(outcomes.filter((o) => !o.endsWith(' 250')), [], 'every message got 250');
  assert.ok(store.current().generation - startGeneration >= (PER_CLIENT / EVERY) - 1, 'swaps happened while sending');
  assert.ok(failedReloads >= 1, 'refused reloads happened while sending too');
  await sink.waitFor(CLIENTS * PER_CLIENT, 60_000);
  await waitFor(() => harness.relay.spool.stats().size === 0, 30_000, 'the spool drains');
  const ids = messageIds(sink.messages.map((m) => m.raw));
  assert.equal(ids.size, CLIENTS * PER_CLIENT, 'every message arrived');
  assert.deepEqual([...ids.values()].filter((n) => n !== 1), [], 'and none twice');
  for (const session of sessions) assert.equal((await session.command('QUIT')).code, 221);
});

// Issue 17 end to end: real sessions over the wire are journaled (accepted,
// DNSBL-refused through the test DNS server, relay-denied, rate-limited,
// authenticated relay), then `relayguard replay` re-runs them under edited
// copies of the policy files and must report exactly the expected diff.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { SmtpTalk } from '../helpers/smtp-talk.ts';
import { HARNESS_LISTENERS, smarthostTo, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { usersToml } from '../helpers/auth-fixtures.ts';
import { submit, replyLine } from '../helpers/e2e-auth-clients.ts';
import { captureIo } from '../helpers/cli-run.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { runReplay } from '../../src/cli/replay.ts';
import { runExplain } from '../../src/cli/explain.ts';
import { emptyReadStats, readJournal } from '../../src/journal/journal-segment.ts';
import type { JournalRecord } from '../../src/journal/journal-record.ts';

const TRUSTED = '127.0.0.1';
const LISTED = '127.0.0.3';
const STRANGER = '127.0.0.4';
const FLOODER = '127.0.0.5';
const AUTHED = '127.0.0.6';
const LOCAL_SENDER = '127.0.0.7';

interface World {
  readonly dns: TestDnsServer;
  readonly sink: SmtpSink;
  readonly harness: RelayHarness;
  readonly policies: Record<string, string>;
}

function reverse(ip: string): string {
  return ip.split('.').reverse().join('.');
}

async function world(t: TestContext): Promise<World> {
  const dns = await startDnsServer();
  for (const ip of ['127.0.0.2', LISTED]) dns.add({ name: `${reverse(ip)}.bl.test`, type: 'A', data: '127.0.0.2' });
  const sink = await startSmtpSink();
  const policies = {
    'local-domains': 'example.test\n',
    'relay-networks': `${TRUSTED}/32\n`,
    'dnsbl.toml': 'threshold = 1\ncheck_private_clients = true\n\n[[zones]]\nzone = "bl.test"\nweight = 1\n',
    'limits.toml': '[ip]\nmessages = "1/1h"\n',
    'users.toml': await usersToml([{ name: 'alice', password: 'correct horse', senders: ['alice@example.test'] }]),
  };
  const harness = await startHarness({
    deliveryWorker: false,
    config: `${HARNESS_LISTENERS}${smarthostTo(sink.port)}
[dns]
servers = ["${dns.address}"]
timeout = "1s"
tries = 1
`,
    policies,
  });
  t.after(async () => {
    await harness.stop();
    await sink.close();
    await dns.close();
  });
  return { dns, sink, harness, policies };
}

/** EHLO, MAIL, each RCPT, and DATA when one was accepted; the reply lines. */
async function session(port: number, client: string, from: string, to: readonly string[], messages = 1): Promise<string[]> {
  const talk = await SmtpTalk.connect({ port, localAddress: client });
  const lines: string[] = [];
  try {
    await talk.read();
    await talk.command('EHLO client.test');
    for (let m = 0; m < messages; m++) {
      const mail = await talk.command(`MAIL FROM:<${from}>`);
      lines.push(replyLine(mail));
      if (mail.code !== 250) break;
      let accepted = 0;
      for (const rcpt of to) {
        const reply = await talk.command(`RCPT TO:<${rcpt}>`);
        lines.push(replyLine(reply));
        if (reply.code === 250) accepted++;
      }
      if (accepted === 0) {
        await talk.command('RSET');
        continue;
      }
      await talk.command('DATA');
      lines.push(replyLine(await talk.command(`Subject: ${client} ${m}\r\n\r\nhello\r\n.`)).slice(0, 3));
    }
    await talk.command('QUIT');
  } finally {
    talk.close();
  }
  return lines;
}

/** The five kinds of session, recorded; resolves once every one is in the journal. */
async function record(w: World): Promise<number> {
  const mx = w.harness.port('mx');
  assert.deepEqual(await session(mx, TRUSTED, 'a@relay-client.test', ['far@foreign.test']), ['250 2.1.0 Accepted', '250 2.1.5 Accepted', '250']);
  assert.match((await session(mx, LISTED, 'spam@listed.test', ['bob@example.test']))[1] ?? '', /^554 5\.7\.1 .*bl\.test/);
  assert.match((await session(mx, STRANGER, 'x@stranger.test', ['victim@foreign.test']))[1] ?? '', /^554 5\.7\.1 .*Relay access denied/);
  const flood = await session(mx, FLOODER, 'f@flood.test', ['bob@example.test'], 2);
  assert.deepEqual(flood, ['250 2.1.0 Accepted', '250 2.1.5 Accepted', '250', '450 4.7.1 Rate limit exceeded, try again later']);
  const authed = await submit({ port: w.harness.port('submission'), user: 'alice', pass: 'correct horse', from: 'alice@example.test', to: ['carol@foreign.example'], localAddress: AUTHED });
  assert.equal(authed.ok, true, authed.response);
  assert.deepEqual(await session(mx, LOCAL_SENDER, 'l@local-sender.test', ['bob@example.test']), ['250 2.1.0 Accepted', '250 2.1.5 Accepted', '250']);
  await w.sink.waitFor(4);
  await waitFor(() => w.harness.relay.frontDoor.sessionCount === 0, 5000, 'every session closed');
  const journal = w.harness.relay.journal;
  assert.ok(journal);
  await journal.flush();
  assert.equal(journal.stats().written, 6);
  return journal.stats().bytes / 6;
}

interface ReplayJson {
  readonly sessions: number;
  readonly changes: number;
  readonly groups: ReadonlyArray<{ kind: string; stage: string; rule: string; reason: string; count: number; examples: Array<{ client: string; input: string; before: string; after: string }> }>;
  readonly relayOpenings: { count: number; examples: Array<{ client: string; input: string }> };
  readonly unknown: { sessions: number; dnsblZones: Record<string, number> };
}

/** A copy of the running policies with `edits`, replayed in the main thread (--jobs 0; test/journal/replay-pool.test.ts shows workers give the same report): exit code and the JSON report. */
async function replayWith(t: TestContext, w: World, edits: Record<string, string>): Promise<{ code: number; report: ReplayJson }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-candidate-'));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }).catch(() => undefined));
  await cp(path.join(w.harness.dir.dir, 'policies'), dir, { recursive: true });
  for (const [name, text] of Object.entries(edits)) await writeFile(path.join(dir, name), text);
  const { io, out, err } = captureIo();
  const code = await runReplay(['--policies', dir, '--config', w.harness.dir.configFile, '--json', '--jobs', '0'], io);
  assert.equal(err(), '');
  return { code, report: JSON.parse(out()) as ReplayJson };
}

function groups(report: ReplayJson): string[] {
  return report.groups.map((g) => `${g.kind} ${g.stage} ${g.rule} ${g.reason} x${g.count}: ${g.examples.map((e) => `${e.client} ${e.input}`).join(', ')}`).sort();
}

test('replay: recorded sessions under edited policies give exactly the expected diff', async (t) => {
  const w = await world(t);
  const bytesPerSession = await record(w);
  t.diagnostic(`journal bytes per session (these six): ${Math.round(bytesPerSession)}`);
  assert.ok(bytesPerSession < 1500, `${bytesPerSession} bytes per session`);

  const same = await replayWith(t, w, {});
  assert.equal(same.report.sessions, 6);
  assert.deepEqual(groups(same.report), []);
  assert.equal(same.code, 0);

  const noRelayNetwork = await replayWith(t, w, { 'relay-networks': '' });
  assert.deepEqual(groups(noRelayNetwork.report), [`newly_refused rcpt reject-relay relay.denied x1: ${TRUSTED} far@foreign.test`]);
  assert.equal(noRelayNetwork.code, 1);

  const lighter = await replayWith(t, w, { 'dnsbl.toml': 'threshold = 1\ncheck_private_clients = true\n\n[[zones]]\nzone = "bl.test"\nweight = 0.5\n' });
  assert.deepEqual(groups(lighter.report), [`newly_accepted rcpt dnsbl dnsbl.listed x1: ${LISTED} bob@example.test`]);
  assert.equal(lighter.code, 1);

  // A zone the journal has no answers for is unknown, never guessed: counted as not listed, reported per zone.
  const newZone = await replayWith(t, w, { 'dnsbl.toml': 'threshold = 1\ncheck_private_clients = true\n\n[[zones]]\nzone = "bl.test"\nweight = 1\n\n[[zones]]\nzone = "new.test"\nweight = 5\n' });
  assert.deepEqual(groups(newZone.report), []);
  assert.deepEqual(newZone.report.unknown.dnsblZones, { 'new.test': 4 });
  assert.equal(newZone.code, 0);

  const denied = await replayWith(t, w, { denylist: `${LOCAL_SENDER}/32 local sender gone bad\n` });
  assert.deepEqual(groups(denied.report), [`newly_refused connect denylist denylist.listed x1: ${LOCAL_SENDER} `]);
  assert.equal(denied.code, 1);

  const open = await replayWith(t, w, { 'relay-networks': '0.0.0.0/0\n' });
  assert.equal(open.code, 3);
  assert.equal(open.report.relayOpenings.count, 1);
  assert.deepEqual(open.report.relayOpenings.examples.map((e) => `${e.client} ${e.input}`), [`${STRANGER} victim@foreign.test`]);
  assert.deepEqual(groups(open.report), [
    `newly_accepted mail rate-limits mail.rate x1: ${FLOODER} f@flood.test`,
    `newly_accepted rcpt dnsbl dnsbl.listed x1: ${LISTED} bob@example.test`,
    `newly_accepted rcpt reject-relay relay.denied x1: ${STRANGER} victim@foreign.test`,
  ]);

  const newUser = await replayWith(t, w, {
    'users.toml': `${w.policies['users.toml']}\n${await usersToml([{ name: 'bob', password: 'another horse', senders: ['bob@example.test'] }])}`,
  });
  assert.deepEqual(groups(newUser.report), []);
  assert.equal(newUser.code, 0);

  // explain --replay ID: one recorded session, under the running files and under a candidate.
  const stranger: JournalRecord[] = [];
  await readJournal(path.join(w.harness.relay.config.dataDir, 'journal'), {}, emptyReadStats(), (r) => {
    if (r.ip === STRANGER) stranger.push(r);
  });
  assert.equal(stranger.length, 1);
  const id = stranger[0]!.id;
  const running = captureIo();
  assert.equal(await runExplain([`--replay=${id}`, '--config', w.harness.dir.configFile], running.io), 0, running.err());
  assert.match(running.out(), /rcpt\s+victim@foreign\.test\s+reject rcpt reject-relay relay\.denied\s+reject rcpt reject-relay relay\.denied\s*\n/);
  assert.match(running.out(), /every command is decided as it was/);
  const candidate = await mkdtemp(path.join(os.tmpdir(), 'relayguard-candidate-'));
  t.after(() => rm(candidate, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }).catch(() => undefined));
  await cp(path.join(w.harness.dir.dir, 'policies'), candidate, { recursive: true });
  await writeFile(path.join(candidate, 'relay-networks'), '0.0.0.0/0\n');
  const opened = captureIo();
  assert.equal(await runExplain([`--replay=${id}`, '--policies', candidate, '--config', w.harness.dir.configFile, '--json'], opened.io), 1, opened.err());
  const json = JSON.parse(opened.out()) as { changed: boolean; calls: Array<{ call: string; input: string; recorded: string; now: string }> };
  assert.equal(json.changed, true);
  assert.deepEqual(json.calls.map((c) => `${c.call} ${c.input}: ${c.recorded} -> ${c.now}`), [
    'connect : permit connect default ok -> permit connect default ok',
    'mail x@stranger.test: permit mail default ok -> permit mail default ok',
    'rcpt victim@foreign.test: reject rcpt reject-relay relay.denied -> permit rcpt relay-networks relay.trusted_network',
  ]);
  const missing = captureIo();
  assert.equal(await runExplain(['--replay', 'no-such-session', '--config', w.harness.dir.configFile], missing.io), 1);
  assert.match(missing.err(), /session no-such-session is not in the journal/);
});

test('the journal cannot write (its directory taken by a file): mail is still accepted and delivered; it resumes by itself', async (t) => {
  const w = await world(t);
  const journalDir = path.join(w.harness.relay.config.dataDir, 'journal');
  await rm(journalDir, { recursive: true, force: true });
  await writeFile(journalDir, 'in the way');
  const journal = w.harness.relay.journal;
  assert.ok(journal);
  const mx = w.harness.port('mx');
  assert.deepEqual(await session(mx, TRUSTED, 'a@relay-client.test', ['far@foreign.test']), ['250 2.1.0 Accepted', '250 2.1.5 Accepted', '250']);
  await w.sink.waitFor(1);
  await waitFor(() => w.harness.relay.frontDoor.sessionCount === 0, 5000, 'session closed');
  await journal.flush();
  assert.equal(journal.stats().dropped, 1);
  assert.equal(w.harness.logs.filter((l) => l.event === 'journal.write_failed').length, 1);
  await rm(journalDir);
  assert.deepEqual(await session(mx, TRUSTED, 'a@relay-client.test', ['far2@foreign.test']), ['250 2.1.0 Accepted', '250 2.1.5 Accepted', '250']);
  await w.sink.waitFor(2);
  await waitFor(() => w.harness.relay.frontDoor.sessionCount === 0, 5000, 'session closed');
  await journal.flush();
  assert.equal(journal.stats().written, 1);
  assert.equal(journal.stats().degraded, false);
  assert.equal(w.harness.logs.filter((l) => l.event === 'journal.resumed').length, 1);
});

test('the guarded reload refuses an edit that widens relay-networks to 0.0.0.0/0; mail keeps flowing under the old policy', async (t) => {
  const w = await world(t);
  await record(w);
  const { relay } = w.harness;
  const generation = relay.store.current().generation;
  await w.harness.dir.writePolicy('relay-networks', '0.0.0.0/0\n');
  const result = await relay.store.reload('test: widen relay-networks');
  assert.equal(result.ok, false);
  assert.equal(result.generation, generation);
  assert.equal(relay.store.current().generation, generation);
  assert.equal(result.guard?.refused, true);
  assert.equal(result.guard?.openings, 1);
  assert.equal(result.guard?.examples.length, 1);
  assert.match(result.guard?.examples[0] ?? '', new RegExp(`client ${STRANGER.replaceAll('.', '\\.')} on mx: rcpt <victim@foreign\\.test>: was reject rcpt reject-relay relay\\.denied, now permit rcpt relay-networks relay\\.trusted_network`));
  assert.match(result.errors[0] ?? '', /^reload guard: this edit would newly allow 1 recipient/);
  assert.ok(w.harness.logs.some((l) => l.event === 'policy.reload_guarded'));
  assert.ok(w.harness.logs.some((l) => l.event === 'policy.guard_example' && String(l.msg).includes(STRANGER)));

  // Mail keeps flowing under the running policy: the stranger is still refused, the trusted client still relays.
  const mx = w.harness.port('mx');
  assert.match((await session(mx, STRANGER, 'x@stranger.test', ['victim@foreign.test']))[1] ?? '', /^554 5\.7\.1 .*Relay access denied/);
  assert.deepEqual(await session(mx, TRUSTED, 'a@relay-client.test', ['far3@foreign.test']), ['250 2.1.0 Accepted', '250 2.1.5 Accepted', '250']);
  await w.sink.waitFor(5);

  // relayguard check says the same about the files on disk.
  const { io, out, err } = captureIo();
  const { runCheck } = await import('../../src/cli/check.ts');
  assert.equal(await runCheck(['--config', w.harness.dir.configFile], io), 1, out());
  assert.match(err(), /reload guard: these files would newly allow \d+ recipient/);
  assert.match(err(), /relay opening: .*victim@foreign\.test/);

  // The dashboard's reload panel data carries the replay diff of the held-back candidate.
  const http = relay.http;
  assert.ok(http);
  const status = (await (await fetch(`http://127.0.0.1:${http.port}/api/status`)).json()) as { reload: { ok: boolean; guard?: { refused: boolean; openings: number; groups: Array<{ title: string; count: number }> } } };
  assert.equal(status.reload.ok, false);
  assert.equal(status.reload.guard?.refused, true);
  assert.ok(status.reload.guard?.groups.some((g) => g.title === 'newly accepted (was refused by) rcpt reject-relay relay.denied'));

  // An edit that opens nothing goes through, guard report attached.
  await w.harness.dir.writePolicy('relay-networks', `${TRUSTED}/32\n`);
  await w.harness.dir.writePolicy('denylist', `${LOCAL_SENDER}/32\n`);
  const next = await relay.store.reload('test: denylist');
  assert.equal(next.ok, true, next.errors.join('\n'));
  assert.equal(next.guard?.refused, false);
  assert.ok((next.guard?.changes ?? 0) >= 1);
});

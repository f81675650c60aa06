// Issue 18 item 3 / issue 17: sessions a Postfix runs through the policy
// service go to the decision journal like the front door's, marked
// `src: "policy service"` (with the user Postfix authenticated on their MAIL
// step), and `relayguard replay` / `explain --replay` walk them again under
// edited policy files, reporting exactly the expected diff.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startDnsServer } from '../helpers/dns-server.ts';
import { HARNESS_LISTENERS, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { PolicyClient } from '../helpers/policy-client.ts';
import { usersToml } from '../helpers/auth-fixtures.ts';
import { captureIo } from '../helpers/cli-run.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { runReplay } from '../../src/cli/replay.ts';
import { runExplain } from '../../src/cli/explain.ts';
import { emptyReadStats, readJournal } from '../../src/journal/journal-segment.ts';
import type { JournalRecord } from '../../src/journal/journal-record.ts';
import { formatReply } from '../../src/policy/decision.ts';
import { replyFor } from '../../src/policy/replies.ts';

const TRUSTED = '127.0.0.1';
const LISTED = '127.0.0.3';
const STRANGER = '127.0.0.4';
const AUTHED = '127.0.0.6';
const CLEAN = '127.0.0.7';

interface World {
  readonly harness: RelayHarness;
  readonly policies: Record<string, string>;
}

async function world(t: TestContext): Promise<World> {
  const dns = await startDnsServer();
  for (const ip of ['127.0.0.2', LISTED]) dns.add({ name: `${ip.split('.').reverse().join('.')}.bl.test`, type: 'A', data: '127.0.0.2' });
  const policies = {
    'local-domains': 'example.test\n',
    'relay-networks': `${TRUSTED}/32\n`,
    'dnsbl.toml': 'threshold = 1\ncheck_private_clients = true\n\n[[zones]]\nzone = "bl.test"\nweight = 1\n',
    'users.toml': await usersToml([{ name: 'alice', password: 'correct horse', senders: ['alice@example.test'] }]),
  };
  const harness = await startHarness({
    deliveryWorker: false,
    config: `${HARNESS_LISTENERS}
[dns]
servers = ["${dns.address}"]
timeout = "1s"
tries = 1

[policy_service]
enabled = true
address = "127.0.0.1:0"
session_idle = "200ms"
`,
    policies,
  });
  t.after(async () => {
    await harness.stop();
    await dns.close();
  });
  return { harness, policies };
}

/** Five SMTP sessions as a Postfix asks about them (one RCPT each); resolves once all are in the journal. */
async function record(w: World): Promise<void> {
  const address = w.harness.relay.policy;
  assert.ok(address?.kind === 'inet');
  const client = await PolicyClient.connect({ port: address.port });
  try {
    const ask = (clientAddress: string, port: number, attributes: Record<string, string | number>) =>
      client.ask({ client_address: clientAddress, client_port: port, instance: `${port.toString(16)}.6f2e1d00.1.0`, ...attributes });
    assert.equal(await ask(TRUSTED, 4001, { sender: 'a@relay-client.test', recipient: 'far@foreign.test' }), 'OK');
    assert.match((await ask(LISTED, 4002, { sender: 'spam@listed.test', recipient: 'bob@example.test' })) ?? '', /^554 5\.7\.1 .*bl\.test/);
    assert.equal(await ask(STRANGER, 4003, { sender: 'x@stranger.test', recipient: 'victim@foreign.test' }), formatReply(replyFor('relay.denied', 'victim@foreign.test')));
    assert.equal(await ask(AUTHED, 4004, { server_port: 587, sasl_method: 'PLAIN', sasl_username: 'alice', encryption_protocol: 'TLSv1.3', sender: 'alice@example.test', recipient: 'carol@foreign.example' }), 'OK');
    assert.equal(await ask(CLEAN, 4005, { sender: 'l@clean.test', recipient: 'bob@example.test' }), 'DUNNO');
  } finally {
    client.close();
  }
  // Postfix never says a session ended: they close session_idle after their last request.
  await waitFor(() => w.harness.relay.policyService?.sessionCount === 0, 5000, 'every policy session closed');
  const journal = w.harness.relay.journal;
  assert.ok(journal);
  await journal.flush();
  assert.equal(journal.stats().written, 5);
}

async function journaled(w: World): Promise<JournalRecord[]> {
  const records: JournalRecord[] = [];
  await readJournal(path.join(w.harness.relay.config.dataDir, 'journal'), {}, emptyReadStats(), (r) => void records.push(r));
  return records.sort((a, b) => a.ip.localeCompare(b.ip));
}

interface ReplayJson {
  readonly sessions: number;
  readonly changes: number;
  readonly groups: ReadonlyArray<{ kind: string; stage: string; rule: string; reason: string; count: number; examples: Array<{ client: string; input: string; source?: string; user?: string }> }>;
  readonly relayOpenings: { count: number; examples: Array<{ client: string; input: string; source?: string }> };
  readonly unknown: { sessions: number; dnsblZones: Record<string, number>; rateWindows: number };
}

async function candidate(t: TestContext, w: World, edits: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-candidate-'));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }).catch(() => undefined));
  await cp(path.join(w.harness.dir.dir, 'policies'), dir, { recursive: true });
  for (const [name, text] of Object.entries(edits)) await writeFile(path.join(dir, name), text);
  return dir;
}

async function replayWith(t: TestContext, w: World, edits: Record<string, string>): Promise<{ code: number; report: ReplayJson }> {
  const { io, out, err } = captureIo();
  const code = await runReplay(['--policies', await candidate(t, w, edits), '--config', w.harness.dir.configFile, '--json', '--jobs', '0'], io);
  assert.equal(err(), '');
  return { code, report: JSON.parse(out()) as ReplayJson };
}

function groups(report: ReplayJson): string[] {
  return report.groups.map((g) => `${g.kind} ${g.stage} ${g.rule} ${g.reason} x${g.count}: ${g.examples.map((e) => `${e.client} ${e.input} ${e.source ?? 'smtp'}`).join(', ')}`).sort();
}

test('policy-service sessions are journaled with their source marked, and replay walks them under edited policies', async (t) => {
  const w = await world(t);
  await record(w);

  const records = await journaled(w);
  assert.deepEqual(records.map((r) => `${r.ip} ${r.l} ${r.r} ${r.src}`), [
    `${TRUSTED} policy-service mx policy service`,
    `${LISTED} policy-service mx policy service`,
    `${STRANGER} policy-service mx policy service`,
    `${AUTHED} policy-service:submission submission policy service`,
    `${CLEAN} policy-service mx policy service`,
  ]);
  const alice = records.find((r) => r.ip === AUTHED);
  const aliceMail = alice?.s.find((s) => s.c === 'mail');
  assert.equal(aliceMail?.u, 'alice', 'the user Postfix authenticated is on the MAIL step');
  assert.equal(aliceMail?.tls, true);
  // Duration ends at the session's last request, not when session_idle closed it.
  for (const r of records) assert.ok(r.ms < 150, `${r.ip}: ${r.ms} ms`);
  // Open connections are not counted for these sessions (Postfix never says when they end); the rate is.
  const connect = records[0]?.s[0];
  assert.equal(connect?.c, 'connect');
  assert.equal(connect?.f?.cn?.c?.global, undefined);
  assert.ok((connect?.f?.cn?.c?.ipRates?.length ?? 0) === 0, 'a relay-network client is not counted per IP');
  assert.equal(records[2]?.s[0]?.f?.cn?.c?.ipRates?.[0]?.count, 1);

  const same = await replayWith(t, w, {});
  assert.equal(same.report.sessions, 5);
  assert.deepEqual(groups(same.report), []);
  assert.equal(same.report.unknown.sessions, 0);
  assert.equal(same.code, 0);

  // Open-connection caps do not apply to policy-service sessions, in replay as live: no change, nothing unknown.
  const capped = await replayWith(t, w, { 'limits.toml': '[global]\nmax_connections = 1\n\n[ip]\nmax_connections = 1\n' });
  assert.deepEqual(groups(capped.report), []);
  assert.equal(capped.report.unknown.sessions, 0);
  const noRelayNetwork = await replayWith(t, w, { 'relay-networks': '' });
  assert.deepEqual(groups(noRelayNetwork.report), [`newly_refused rcpt reject-relay relay.denied x1: ${TRUSTED} far@foreign.test policy service`]);
  assert.equal(noRelayNetwork.code, 1);

  // The Postfix user is taken as given, and held to the candidate's users.toml: gone from it, it owns no sender.
  const noAlice = await replayWith(t, w, { 'users.toml': '' });
  assert.equal(noAlice.report.changes, 1);
  assert.equal(noAlice.report.groups[0]?.kind, 'newly_refused');
  assert.equal(noAlice.report.groups[0]?.stage, 'mail');
  assert.equal(noAlice.report.groups[0]?.examples[0]?.user, 'alice');

  const open = await replayWith(t, w, { 'relay-networks': '0.0.0.0/0\n' });
  assert.equal(open.code, 3);
  assert.deepEqual(open.report.relayOpenings.examples.map((e) => `${e.client} ${e.input} ${e.source}`), [`${STRANGER} victim@foreign.test policy service`]);

  // The text report says where a session came from.
  const text = captureIo();
  assert.equal(await runReplay(['--policies', await candidate(t, w, { 'relay-networks': '' }), '--config', w.harness.dir.configFile], text.io), 1, text.err());
  assert.match(text.out(), new RegExp(`client ${TRUSTED.replaceAll('.', '\\.')} on policy-service \\(policy service\\): rcpt <far@foreign\\.test>: was permit`));

  // explain --replay ID walks one of them.
  const id = records.find((r) => r.ip === STRANGER)?.id ?? '';
  const running = captureIo();
  assert.equal(await runExplain([`--replay=${id}`, '--config', w.harness.dir.configFile], running.io), 0, running.err());
  assert.match(running.out(), /rcpt\s+victim@foreign\.test\s+reject rcpt reject-relay relay\.denied\s+reject rcpt reject-relay relay\.denied\s*\n/);
});

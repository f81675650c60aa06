// Issue 17 item 1 with issue 16's live recipient verification: the journal
// records the next hop's answer for each verified recipient, and replay uses
// the recorded answer (no probe is sent). A recipient the candidate would
// verify but that was not verified when recorded is reported unknown, never
// guessed. Real relay, real smtp-server upstream, real sockets.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, smarthostTo, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { codeOf, message, openSession, transaction } from '../helpers/e2e-relay-client.ts';
import { captureIo } from '../helpers/cli-run.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { runReplay } from '../../src/cli/replay.ts';
import { emptyReadStats, readJournal } from '../../src/journal/journal-segment.ts';
import type { JournalRecord } from '../../src/journal/journal-record.ts';

const OUTSIDE = '127.0.0.3';
const POLICIES = { 'local-domains': 'example.test\n', 'relay-networks': '' };

function config(sinkPort: number, verify: boolean): string {
  return `${HARNESS_LISTENERS}\n${smarthostTo(sinkPort)}\n[recipient_verification]\nenabled = ${verify}\ntimeout = "3s"\ncommand_timeout = "3s"\n`;
}

async function recorded(t: TestContext, verify: boolean): Promise<{ harness: RelayHarness; sink: SmtpSink; records: JournalRecord[] }> {
  const sink = await startSmtpSink();
  sink.rcptReply('nobody@example.test', '550 5.1.1 <nobody@example.test>: no such user');
  const harness = await startHarness({ config: config(sink.port, verify), policies: POLICIES, deliveryWorker: false });
  t.after(async () => {
    await harness.stop();
    await sink.close();
  });
  const talk = await openSession({ port: harness.port('mx'), from: OUTSIDE });
  try {
    const sent = await transaction(talk, '<someone@sender.test>', ['<bob@example.test>', '<nobody@example.test>'], message('verified'));
    assert.deepEqual(sent.rcpt.map(codeOf), verify ? ['250 2.1.5', '550 5.1.1'] : ['250 2.1.5', '250 2.1.5']);
  } finally {
    await talk.command('QUIT').catch(() => undefined);
    talk.close();
  }
  await waitFor(() => harness.relay.frontDoor.sessionCount === 0, 5000, 'the session closed');
  const journal = harness.relay.journal;
  assert.ok(journal);
  await journal.flush();
  const records: JournalRecord[] = [];
  await readJournal(path.join(harness.relay.config.dataDir, 'journal'), {}, emptyReadStats(), (r) => void records.push(r));
  assert.equal(records.length, 1);
  return { harness, sink, records };
}

interface ReplayJson {
  readonly changes: number;
  readonly groups: ReadonlyArray<{ kind: string; stage: string; rule: string; reason: string; count: number }>;
  readonly unknown: { sessions: number; recipientVerification: number };
}

/** Replays the harness's journal under its own policies and its config.toml with verification on or off. */
async function replay(t: TestContext, harness: RelayHarness, verify: boolean): Promise<{ code: number; report: ReplayJson }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-candidate-'));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }).catch(() => undefined));
  await cp(path.join(harness.dir.dir, 'policies'), path.join(dir, 'policies'), { recursive: true });
  const text = await readFile(harness.dir.configFile, 'utf8');
  // Beside the running config.toml: its data_dir ("./data", the journal) is relative to it.
  const configFile = path.join(harness.dir.dir, `candidate-${verify}.toml`);
  await writeFile(configFile, text.replace(/enabled = (true|false)\ntimeout = "3s"/, `enabled = ${verify}\ntimeout = "3s"`));
  const { io, out, err } = captureIo();
  const code = await runReplay(['--policies', path.join(dir, 'policies'), '--config', configFile, '--json', '--jobs', '0'], io);
  assert.equal(err(), '');
  assert.equal((JSON.parse(out()) as { sessions: number }).sessions, 1, 'the recorded session was replayed');
  return { code, report: JSON.parse(out()) as ReplayJson };
}

test('the journal keeps the next hop\'s answers; replay reuses them and never probes', async (t) => {
  const { harness, sink, records } = await recorded(t, true);
  const rcptFacts = records[0]!.s.filter((s) => s.c === 'rcpt').map((s) => s.f?.rp);
  assert.deepEqual(rcptFacts.map((rp) => rp?.[0]), ['accepted', 'refused']);
  assert.match(rcptFacts[1]?.[1] ?? '', /^550 5\.1\.1 .*no such user/);
  const probes = () => sink.rcpts.filter((r) => r.from === '' && r.to.endsWith('@example.test')).length;
  const probesBefore = probes();

  const same = await replay(t, harness, true);
  assert.equal(same.code, 0);
  assert.deepEqual(same.report.groups, []);
  assert.equal(same.report.unknown.recipientVerification, 0);

  // Verification switched off in the candidate: the unknown user would now be accepted.
  const off = await replay(t, harness, false);
  assert.equal(off.code, 1);
  assert.deepEqual(off.report.groups.map((g) => `${g.kind} ${g.stage} ${g.reason} x${g.count}`), ['newly_accepted rcpt rcpt.unknown_user x1']);
  assert.equal(probes(), probesBefore, 'replay sent no probe to the next hop');
});

test('a recipient the candidate would verify, recorded without verification, is unknown and not applied', async (t) => {
  const { harness, sink } = await recorded(t, false);
  const on = await replay(t, harness, true);
  assert.equal(on.code, 0);
  assert.deepEqual(on.report.groups, []);
  // Counted per session, as the other unknown facts are.
  assert.equal(on.report.unknown.recipientVerification, 1);
  // (a bounce to someone@sender.test also comes from <>: the upstream refused nobody@ at delivery)
  assert.equal(sink.rcpts.filter((r) => r.from === '' && r.to.endsWith('@example.test')).length, 0, 'replay sent no probe to the next hop');
});

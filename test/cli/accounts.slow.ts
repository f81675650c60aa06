// `relayguard accounts` against `relayguard serve` running in a child process
// (the CLI asks only a relay of another process: spool-lock.ts liveOwner), over
// real sockets and the real control directory (data_dir/spool/control): a suspect
// made by a real over-the-wire trigger (the volume floor lowered to 2), list
// (text and --json), release without and with --release-held, lock -> AUTH
// 535 5.7.8, the state file read-only once the relay is stopped, release and
// lock refused without a relay, usage errors.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { runAccounts } from '../../src/cli/accounts.ts';
import type { SuspectAccount } from '../../src/accounts/account-control.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, smarthostTo } from '../helpers/relay-harness.ts';
import { makeTestConfig, type TestConfigDir } from '../helpers/test-config.ts';
import { listenerPort, serve, type RelayProcess } from '../helpers/relay-process.ts';
import { queue } from '../helpers/queue-cli.ts';
import { usersToml } from '../helpers/auth-fixtures.ts';
import { authPlainLine, openSession, replyLine, submit } from '../helpers/e2e-auth-clients.ts';
import { captureIo } from '../helpers/cli-run.ts';
import { waitFor } from '../helpers/wait-for.ts';

const ALICE = { name: 'alice@example.test', password: 'alice-pw-7781', senders: ['alice@example.test'] };
const BOB = { name: 'bob@example.test', password: 'bob-pw-1187', senders: ['bob@example.test'] };

async function accounts(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const { io, out, err } = captureIo();
  const code = await runAccounts(argv, { ...io, env: { USER: 'tester' } });
  return { code, out: out(), err: err() };
}

/** The subjects the sink received that start with `prefix`, sorted (the queue runner delivers in no fixed order). */
const subjects = (sink: SmtpSink, prefix: string): string[] =>
  sink.messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString('utf8'))?.[1] ?? '').filter((s) => s.startsWith(prefix)).sort();

async function authReply(port: number, user: { name: string; password: string }): Promise<string> {
  const { talk } = await openSession(port, 'starttls');
  try {
    return replyLine(await talk.command(authPlainLine(user.name, user.password)));
  } finally {
    talk.close();
  }
}

/** The relay's log lines (JSON on a pipe). */
function logLines(relay: RelayProcess): () => Array<Record<string, unknown>> {
  let text = '';
  relay.child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return () => text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('relayguard accounts', () => {
  let sink: SmtpSink;
  let dir: TestConfigDir;
  let relay: RelayProcess;
  let logs: () => Array<Record<string, unknown>>;
  let submission = 0;
  let config = '';

  before(async () => {
    sink = await startSmtpSink();
    dir = await makeTestConfig(`log_level = "info"\n${HARNESS_LISTENERS}${smarthostTo(sink.port)}\n[accounts.volume]\nfloor = 2\n`, {
      'local-domains': 'example.test\n',
      'relay-networks': '',
      'users.toml': await usersToml([ALICE, BOB]),
      'checks.toml': '[sender_domain]\nreject_unknown = false\n',
    });
    config = dir.configFile;
    relay = serve(config);
    logs = logLines(relay);
    submission = listenerPort(await relay.started, 'submission');
  });

  after(async () => {
    if (relay?.child.exitCode === null) relay.child.kill('SIGKILL');
    await relay?.exited.catch(() => undefined);
    await sink?.close().catch(() => undefined);
    await dir?.cleanup().catch(() => undefined);
  });

  const heldCount = async (): Promise<number> => {
    const run = await queue(['list', '--held', '--json', '--config', config]);
    assert.equal(run.code, 0, run.err);
    return run.out.split('\n').filter((l) => l !== '').length;
  };

  /** alice sends `n` messages; with the floor at 2 the third of an episode crosses it and is held. */
  async function aliceSends(prefix: string, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const sent = await submit({ port: submission, user: ALICE.name, pass: ALICE.password, from: ALICE.name, to: [`friend${i}@partner.example`], subject: `${prefix}-${i}` });
      assert.ok(sent.ok, sent.response);
    }
  }

  it('list shows a suspect made over the wire: state, since, trigger with reason and evidence, held count', async () => {
    const empty = await accounts(['list', '--config', config]);
    assert.equal(empty.code, 0, empty.err);
    assert.equal(empty.out, 'No suspect account.\n');

    await aliceSends('first', 3);
    await waitFor(() => subjects(sink, 'first-').length === 2, 10_000, 'the two messages under the bar delivered');
    assert.equal(await heldCount(), 1);

    const text = await accounts(['list', '--config', config]);
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, /^alice@example\.test {2}HELD since \d{4}-\d\d-\d\dT[\d:.]+Z {2}1 held message\(s\)\n/);
    assert.match(text.out, /\n {4}volume \(hold\) at \S+Z: .+\n {8}\S+=3/);
    assert.match(text.out, /-- 1 suspect account\(s\)\n$/);

    const json = await accounts(['list', '--json', '--config', config]);
    assert.equal(json.code, 0, json.err);
    const lines = json.out.trim().split('\n');
    assert.equal(lines.length, 1);
    const alice = JSON.parse(lines[0] as string) as SuspectAccount;
    assert.equal(alice.state, 'held');
    assert.equal(alice.heldMessages, 1);
    assert.deepEqual(alice.triggers.map((t) => [t.trigger, t.action]), [['volume', 'hold']]);
  });

  it('release without --release-held ends the episode; the held message stays held; a second release is "not suspect" (exit 1)', async () => {
    const run = await accounts(['release', ALICE.name, '--config', config]);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /alice@example\.test: released; 1 held message\(s\) stay held/);
    assert.equal((await accounts(['list', '--config', config])).out, 'No suspect account.\n');
    assert.equal(await heldCount(), 1);
    await waitFor(() => logs().some((l) => l.event === 'account.released'), 5_000, 'the release in the relay\'s log');
    const released = logs().find((l) => l.event === 'account.released');
    assert.equal(released?.by, 'cli:tester');
    assert.equal(released?.releaseHeld, false);

    const again = await accounts(['release', ALICE.name, '--config', config]);
    assert.equal(again.code, 1);
    assert.match(again.err, /not a suspect account/);
  });

  it('release --release-held delivers the episode\'s held message, not the earlier one', async () => {
    await aliceSends('second', 3);
    await waitFor(() => subjects(sink, 'second-').length === 2, 10_000, 'the two messages under the bar delivered');
    assert.equal(await heldCount(), 2);
    assert.match((await accounts(['list', '--config', config])).out, /^alice@example\.test {2}HELD since \S+ {2}1 held message\(s\)\n/);

    const run = await accounts(['release', ALICE.name.toUpperCase(), '--release-held', '--config', config]);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /1 held message\(s\) released to delivery/);
    await waitFor(() => subjects(sink, 'second-').length === 3, 10_000, 'the held message delivered');
    assert.deepEqual(subjects(sink, 'first-'), ['first-0', 'first-1'], 'the first episode\'s message is still held');
    assert.equal(await heldCount(), 1);
    assert.equal((await accounts(['list', '--config', config])).out, 'No suspect account.\n');
  });

  it('lock: AUTH with the right password gets 535 5.7.8 until released', async () => {
    assert.match(await authReply(submission, BOB), /^235 /);
    const run = await accounts(['lock', BOB.name, '--config', config]);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /bob@example\.test: locked/);
    assert.equal(await authReply(submission, BOB), '535 5.7.8 Authentication credentials invalid');
    const list = await accounts(['list', '--json', '--config', config]);
    const bob = JSON.parse(list.out.trim()) as SuspectAccount;
    assert.equal(bob.state, 'locked');
    assert.deepEqual(bob.triggers.map((t) => [t.trigger, t.evidence.by]), [['manual', 'cli:tester']]);
  });

  it('without a running relay: list reads the state file (unchanged), release and lock refuse with exit 1', async () => {
    relay.child.kill('SIGTERM');
    assert.equal(await relay.exited, 0);
    const stateFile = path.join(path.dirname(config), 'data', 'accounts.json');
    const before = await readFile(stateFile, 'utf8');
    const list = await accounts(['list', '--config', config]);
    assert.equal(list.code, 0, list.err);
    assert.match(list.out, /^bob@example\.test {2}LOCKED since /);
    assert.match(list.out, /-- 1 suspect account\(s\) \(no relay running: from .*accounts\.json\)\n$/);
    for (const argv of [['release', BOB.name], ['lock', ALICE.name]]) {
      const run = await accounts([...argv, '--config', config]);
      assert.equal(run.code, 1, argv.join(' '));
      assert.match(run.err, /no relay is running .*nothing was changed/);
    }
    assert.equal(await readFile(stateFile, 'utf8'), before);
  });

  it('usage errors exit 2', async () => {
    for (const argv of [[], ['frob'], ['list', 'x'], ['release'], ['lock'], ['release', 'a', 'b'], ['lock', 'a', '--json'], ['list', '--release-held'], ['list', '--bogus'], ['list', '--config']]) {
      const run = await accounts(argv);
      assert.equal(run.code, 2, argv.join(' '));
      assert.match(run.err, /usage: relayguard accounts /, argv.join(' '));
    }
  });
});

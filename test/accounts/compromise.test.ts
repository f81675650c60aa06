// Issue 19 item 2 end to end, over real sockets: a simulated account
// compromise. alice sends at her normal rate for simulated hours (the
// detector's clock is injected; SMTP and delivery run in real time), then a
// bot with her password logs in from many new client networks (127.x.y.z
// sources) and sends to hundreds of domains. The burst is accepted (250) and
// held: nothing of it reaches the upstream; the trigger shows in /api/status
// and /metrics; releasing with releaseHeld delivers exactly the held
// messages, once. carol's held message is deleted instead. bob's mail in the
// same run is untouched. A lock refuses AUTH with 535 5.7.8 until released.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, smarthostTo, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { usersToml } from '../helpers/auth-fixtures.ts';
import { authPlainLine, openSession, replyLine, submit } from '../helpers/e2e-auth-clients.ts';
import type { SmtpTalk } from '../helpers/smtp-talk.ts';
import { waitFor } from '../helpers/wait-for.ts';
import type { SuspectAccount } from '../../src/accounts/account-control.ts';

const HOUR = 3_600_000;
const ALICE = { name: 'alice@example.test', password: 'alice-pw-7781', senders: ['alice@example.test', '*@example.test'] };
const BOB = { name: 'bob@example.test', password: 'bob-pw-1187', senders: ['bob@example.test'] };
const CAROL = { name: 'carol@example.test', password: 'carol-pw-5521', senders: ['carol@example.test'] };

/** Bot sessions, each from its own /24 (the 6th distinct network in the hour fires login_networks, floor 5). */
const BOT_SOURCES = Array.from({ length: 8 }, (_, i) => `127.${i + 1}.${i + 7}.${i + 2}`);
const MESSAGES_PER_BOT = 5;
const RECIPIENTS_PER_MESSAGE = 10;

async function api(base: string, path: string): Promise<string> {
  const response = await fetch(`${base}${path}`);
  assert.equal(response.status, 200, `${path}: ${response.status}`);
  return response.text();
}

function metric(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((label) => l.includes(label)));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : undefined;
}

async function login(port: number, user: { name: string; password: string }, localAddress?: string): Promise<{ talk: SmtpTalk; code: number; line: string }> {
  const { talk } = await openSession(port, 'starttls', localAddress);
  const reply = await talk.command(authPlainLine(user.name, user.password));
  return { talk, code: reply.code, line: replyLine(reply) };
}

/** One message on an open session; returns the queue id from the 250. */
async function sendOn(talk: SmtpTalk, from: string, to: readonly string[], subject: string): Promise<string> {
  assert.equal((await talk.command(`MAIL FROM:<${from}>`)).code, 250);
  for (const rcpt of to) assert.equal((await talk.command(`RCPT TO:<${rcpt}>`)).code, 250, rcpt);
  assert.equal((await talk.command('DATA')).code, 354);
  const done = await talk.command(`From: <${from}>\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@client.test>\r\n\r\nhello\r\n.`);
  assert.equal(done.code, 250, replyLine(done));
  const id = /queued as (\S+)/.exec(done.text)?.[1];
  assert.ok(id, done.text);
  return id;
}

const subjects = (sink: SmtpSink, prefix: string): string[] =>
  sink.messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString('utf8'))?.[1] ?? '').filter((s) => s.startsWith(prefix));

describe('a simulated account compromise', () => {
  let sink: SmtpSink;
  let harness: RelayHarness;
  let clock = Date.UTC(2026, 2, 2, 6, 0, 0);
  let base = '';
  const burstIds: string[] = [];

  before(async () => {
    sink = await startSmtpSink();
    harness = await startHarness({
      deliveryWorker: false,
      config: `${HARNESS_LISTENERS}${smarthostTo(sink.port)}
[auth]
failures_before_delay = 50
failures_before_lockout = 100
`,
      policies: { 'local-domains': 'example.test\n', 'relay-networks': '', 'users.toml': await usersToml([ALICE, BOB, CAROL]) },
      accountsClock: () => clock,
    });
    base = `http://127.0.0.1:${harness.relay.http?.port ?? 0}`;
  });

  after(async () => {
    await harness?.stop().catch(() => undefined);
    await sink?.close().catch(() => undefined);
  });

  const submission = () => harness.port('submission');

  it('normal hours: alice and bob send at their usual rate, everything is delivered, no suspect', async () => {
    // 8 simulated hours, 2 messages an hour for alice and 1 for bob, from their usual address.
    for (let h = 0; h < 8; h++) {
      clock += HOUR;
      for (let i = 0; i < 2; i++) {
        const sent = await submit({ port: submission(), user: ALICE.name, pass: ALICE.password, from: ALICE.name, to: [`friend${i}@partner${h % 3}.example`], subject: `normal-a-${h}-${i}` });
        assert.ok(sent.ok, sent.response);
      }
      const sent = await submit({ port: submission(), user: BOB.name, pass: BOB.password, from: BOB.name, to: ['client@customer.example'], subject: `normal-b-${h}` });
      assert.ok(sent.ok, sent.response);
    }
    await sink.waitFor(24, 20_000);
    assert.deepEqual(harness.relay.accounts?.suspects(), []);
  });

  it('the burst: logins from new networks, hundreds of domains; accepted with 250, held, nothing reaches the upstream', async () => {
    clock += HOUR / 2;
    // The bot opens its sessions first (from new /24s), then sends on all of them.
    const bots: SmtpTalk[] = [];
    try {
      for (const source of BOT_SOURCES) {
        const { talk, code, line } = await login(submission(), ALICE, source);
        bots.push(talk);
        assert.equal(code, 235, line);
      }
      let n = 0;
      for (let m = 0; m < MESSAGES_PER_BOT; m++) {
        for (const [b, talk] of bots.entries()) {
          const to = Array.from({ length: RECIPIENTS_PER_MESSAGE }, (_, r) => `user${r}@target${n * RECIPIENTS_PER_MESSAGE + r}.example`);
          // The bot switches to a sender alice never used (her senders allow any @example.test).
          burstIds.push(await sendOn(talk, 'billing@example.test', to, `burst-${b}-${m}`));
          n++;
        }
        clock += 1000;
      }
    } finally {
      for (const talk of bots) talk.close();
    }
    assert.equal(burstIds.length, BOT_SOURCES.length * MESSAGES_PER_BOT);
    assert.ok(burstIds.length * RECIPIENTS_PER_MESSAGE >= 400, 'hundreds of distinct domains');
    for (const id of burstIds) assert.ok(harness.relay.runner.isHeld(id), `${id} is held`);

    // bob's mail right after the burst still goes out; once it has, none of the burst has.
    const sent = await submit({ port: submission(), user: BOB.name, pass: BOB.password, from: BOB.name, to: ['client@customer.example'], subject: 'normal-b-after-burst' });
    assert.ok(sent.ok, sent.response);
    await waitFor(() => subjects(sink, 'normal-b-after-burst').length === 1, 10_000, "bob's message at the upstream");
    assert.deepEqual(subjects(sink, 'burst-'), [], 'nothing of the burst reached the upstream');
  });

  it('the trigger is visible in /api/status and /metrics', async () => {
    const status = JSON.parse(await api(base, '/api/status')) as { accounts: { suspects: SuspectAccount[] } };
    assert.equal(status.accounts.suspects.length, 1);
    const [alice] = status.accounts.suspects;
    assert.ok(alice);
    assert.equal(alice.user, ALICE.name);
    assert.equal(alice.state, 'held');
    assert.equal(alice.heldMessages, burstIds.length);
    const login = alice.triggers.find((t) => t.trigger === 'login_networks');
    assert.ok(login, JSON.stringify(alice.triggers));
    assert.equal(login.action, 'hold');
    assert.equal(login.evidence.networks_in_window, 6);
    assert.ok(alice.triggers.some((t) => t.trigger === 'new_sender'), 'billing@ was never used by alice');
    assert.ok(alice.triggers.some((t) => t.trigger === 'recipient_domains'), '400 domains in the hour');

    const metrics = await api(base, '/metrics');
    assert.equal(metric(metrics, 'relayguard_account_triggers_total', 'trigger="login_networks",action="hold"'), 1);
    assert.equal(metric(metrics, 'relayguard_accounts_suspect', 'state="held"'), 1);
    assert.equal(metric(metrics, 'relayguard_decisions_total', 'reason="account.login_networks"'), 1);
    assert.ok(/^relayguard_account_held_messages_total 40$/m.test(metrics), 'held messages counted');
  });

  it('release with releaseHeld delivers exactly the held messages, once', async () => {
    const before = sink.messages.length;
    assert.equal(await harness.relay.accounts?.release(ALICE.name, 'test-admin', true), true);
    await sink.waitFor(before + burstIds.length, 20_000);
    // One more message of bob's after them: when it is in, nothing of the burst came twice.
    const sent = await submit({ port: submission(), user: BOB.name, pass: BOB.password, from: BOB.name, to: ['client@customer.example'], subject: 'normal-b-after-release' });
    assert.ok(sent.ok, sent.response);
    await waitFor(() => subjects(sink, 'normal-b-after-release').length === 1, 10_000, "bob's last message");
    const burst = subjects(sink, 'burst-');
    assert.equal(burst.length, burstIds.length);
    assert.equal(new Set(burst).size, burstIds.length, 'each held message once');
    assert.deepEqual(harness.relay.accounts?.suspects(), []);
    assert.equal(harness.relay.runner.stats().held, 0);
    // bob's mail was never touched: every one of his messages arrived, once.
    assert.equal(subjects(sink, 'normal-b-').length, 10);
  });

  it('a held message of a released suspect can be deleted instead: it never reaches the upstream', async () => {
    // carol sends one message to 100 domains: not more than the recipient_domains floor (100).
    const { talk, code, line } = await login(submission(), CAROL);
    let id: string;
    try {
      assert.equal(code, 235, line);
      const to = Array.from({ length: 100 }, (_, r) => `x@carol-target${r}.example`);
      id = await sendOn(talk, CAROL.name, to, 'carol-first');
    } finally {
      talk.close();
    }
    // Her second message crosses it, and is held itself.
    const second = await login(submission(), CAROL);
    let held: string;
    try {
      held = await sendOn(second.talk, CAROL.name, ['y@carol-extra1.example', 'y@carol-extra2.example'], 'carol-crossing');
    } finally {
      second.talk.close();
    }
    await waitFor(() => subjects(sink, 'carol-first').length === 1, 10_000, "carol's first message (under the bar) delivered");
    assert.ok(harness.relay.runner.isHeld(held), 'the crossing message is held');
    assert.ok(!harness.relay.runner.isHeld(id));
    assert.deepEqual(harness.relay.accounts?.suspects().map((s) => [s.user, s.state, s.heldMessages, s.triggers.map((t) => t.trigger).join()]), [[CAROL.name, 'held', 1, 'recipient_domains']]);
    // Released without its messages: the account is clear, the message stays held for the queue view.
    assert.equal(await harness.relay.accounts?.release(CAROL.name, 'test-admin', false), true);
    assert.ok(harness.relay.runner.isHeld(held));
    assert.equal(await harness.relay.runner.remove(held), true);
    assert.equal(harness.relay.runner.exists(held), false);
    const sent = await submit({ port: submission(), user: BOB.name, pass: BOB.password, from: BOB.name, to: ['client@customer.example'], subject: 'normal-b-after-delete' });
    assert.ok(sent.ok, sent.response);
    await waitFor(() => subjects(sink, 'normal-b-after-delete').length === 1, 10_000, "bob's message");
    assert.deepEqual(subjects(sink, 'carol-crossing'), [], 'the deleted message never went out');
  });

  it('lock: AUTH with the right password gets 535 5.7.8 until released', async () => {
    await harness.relay.accounts?.lock(ALICE.name, 'test-admin');
    const locked = await login(submission(), ALICE);
    locked.talk.close();
    assert.equal(locked.line, '535 5.7.8 Authentication credentials invalid');
    const bob = await login(submission(), BOB);
    bob.talk.close();
    assert.equal(bob.code, 235, 'another user is not affected');
    assert.equal(harness.relay.accounts?.suspects()[0]?.state, 'locked');
    assert.equal(await harness.relay.accounts?.release(ALICE.name, 'test-admin', false), true);
    const again = await login(submission(), ALICE);
    again.talk.close();
    assert.equal(again.code, 235, again.line);
    const lines = harness.logs.filter((l) => l.msg === 'decision' && l.reason === 'auth.account_locked');
    assert.equal(lines.length, 1);
  });
});

// The limits provider through the real session driver (src/session)
// with the real in-process counters: what is counted when, that refused
// attempts are never counted, and that close() gives everything back. No
// sockets: the front door's part is tested over real ones in relay-limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSessionDriver } from '../../src/session/session-driver.ts';
import { Authenticator } from '../../src/auth/authenticator.ts';
import { MemoryAuthFailureStore } from '../../src/auth/failure-store.ts';
import { MemoryConcurrencyCounter } from '../../src/facts/limits/counters.ts';
import { FlexibleRateCounter } from '../../src/facts/limits/rate-counter.ts';
import { GLOBAL_KEY, limitsProvider } from '../../src/facts/limits/limits-provider.ts';
import { parseLimitsFile } from '../../src/config/limits-file.ts';
import { silentLogger } from '../../src/log/logger.ts';
import type { Decision } from '../../src/policy/decision.ts';
import type { PolicySnapshot } from '../../src/config/snapshot.ts';
import type { SessionRecord } from '../../src/session/session-record.ts';
import { testSnapshot, testUser } from '../helpers/policy-snapshot.ts';

function setup(limitsText: string, options: Parameters<typeof testSnapshot>[0] = {}) {
  const parsed = parseLimitsFile('limits.toml', limitsText);
  if (!parsed.ok) throw new Error(parsed.problems.map((p) => p.message).join('\n'));
  const snapshot = testSnapshot({ ...options, limits: parsed.value });
  const connections = new MemoryConcurrencyCounter();
  const counters = { rates: new FlexibleRateCounter(), connections };
  const policy = createSessionDriver({
    hostname: 'relay.example.test',
    credentials: new Authenticator({ store: new MemoryAuthFailureStore() }),
    facts: [limitsProvider(counters, silentLogger())],
    logger: silentLogger(),
  });
  let ids = 0;
  const open = async (ip: string, user?: string): Promise<{ state: SessionRecord; decision: Decision }> => {
    const state = newSession(`S${++ids}`, ip, snapshot, user);
    return { state, decision: await policy.connect(state) };
  };
  /** MAIL, RCPT each recipient, DATA; the verdicts in order. */
  const transaction = async (state: SessionRecord, from: string, to: readonly string[]): Promise<string[]> => {
    const verdicts: string[] = [];
    const mail = await policy.mail(state, from, {});
    verdicts.push(`mail:${mail.decision.verdict}`);
    if (mail.decision.verdict === 'defer' || mail.decision.verdict === 'reject') return verdicts;
    let accepted = 0;
    for (const rcpt of to) {
      const result = await policy.rcpt(state, rcpt);
      verdicts.push(`rcpt:${result.decision.verdict}`);
      if (result.decision.verdict === 'permit') accepted++;
    }
    if (accepted > 0) verdicts.push(`data:${(await policy.data(state)).verdict}`);
    return verdicts;
  };
  return { policy, connections, open, transaction, snapshot };
}

function newSession(sessionId: string, clientIp: string, snapshot: PolicySnapshot, user?: string): SessionRecord {
  const listener = snapshot.config.listeners[0];
  if (!listener) throw new Error('no listener');
  return {
    sessionId,
    listener: { ...listener, name: 'mx', authOffered: false },
    clientIp,
    clientPort: 40000,
    peerIp: clientIp,
    localIp: '192.0.2.25',
    localPort: 25,
    connectedAt: 0,
    snapshot,
    tls: true,
    helo: 'client.example.net',
    esmtp: true,
    ...(user ? { user } : {}),
    recipients: [],
    rejectedRecipients: 0,
    errors: 0,
    messages: 0,
  };
}

const OUT = '192.0.2.200';
const flush = () => new Promise((resolve) => setImmediate(resolve));

test('open connections per client: the one over the cap gets 421 4.7.0; a close makes room; others are not affected', async () => {
  const { policy, open, connections } = setup('[ip]\nmax_connections = 2\n');
  const first = await open(OUT);
  const second = await open(OUT);
  const third = await open(OUT);
  assert.deepEqual([first.decision.verdict, second.decision.verdict], ['permit', 'permit']);
  assert.equal(third.decision.reason, 'conn.limit');
  assert.equal(third.decision.reply?.code, 421);
  assert.equal(third.decision.reply?.enhanced, '4.7.0');
  assert.equal((await open('192.0.2.201')).decision.verdict, 'permit', 'another address is counted apart');
  policy.close(third.state);
  policy.close(first.state);
  await flush();
  assert.equal(connections.current(`ip:${OUT}`), 1);
  assert.equal((await open(OUT)).decision.verdict, 'permit');
});

test('connection rate: refused connections are not counted, so a client held at its limit is not held longer', async () => {
  const { policy, open } = setup('[ip]\nmax_connections = 1\nconnections = "3/1h"\n');
  const a = await open(OUT); // rate 1
  for (let i = 0; i < 5; i++) {
    const refused = await open(OUT); // over the concurrency cap: refused, and its rate point taken back
    assert.equal(refused.decision.reason, 'conn.limit');
    policy.close(refused.state);
  }
  policy.close(a.state);
  await flush();
  const d = await open(OUT); // rate 2
  assert.equal(d.decision.verdict, 'permit');
  policy.close(d.state);
  const e = await open(OUT); // rate 3
  assert.equal(e.decision.verdict, 'permit');
  policy.close(e.state);
  const f = await open(OUT); // rate 4 > 3
  assert.equal(f.decision.reason, 'conn.rate');
  assert.equal(f.decision.reply?.code, 421);
});

test('global cap: everyone counts, allowlist and relay networks included, and is released on close', async () => {
  const { policy, open, connections } = setup('[global]\nmax_connections = 2\n');
  const a = await open('198.51.100.7'); // allowlisted
  const b = await open('10.0.0.9'); // relay network
  const c = await open('198.51.100.7');
  assert.equal(c.decision.reason, 'conn.global_limit');
  assert.equal(c.decision.reply?.code, 421);
  for (const s of [a, b, c]) policy.close(s.state);
  await flush();
  assert.equal(connections.current(GLOBAL_KEY), 0);
  assert.equal(connections.size, 0, 'nothing left open');
});

test('a client that leaves while its connection is being counted is released all the same', async () => {
  const { policy, connections } = setup('');
  const state = newSession('early', OUT, testSnapshot());
  const pending = policy.connect(state);
  policy.close(state);
  await pending;
  await flush();
  assert.equal(connections.current(GLOBAL_KEY), 0);
  assert.equal(connections.current(`ip:${OUT}`), 0);
});

test('messages: counted once DATA is accepted; abandoned and refused transactions are not', async () => {
  const { policy, open, transaction } = setup('[ip]\nmessages = "2/1h"\n');
  const { state } = await open(OUT);
  // Five transactions given up before DATA (RSET, or a new MAIL).
  for (let i = 0; i < 5; i++) assert.deepEqual(await transaction(state, 'a@other.example', []), ['mail:permit']);
  // Recipients all refused: DATA never comes.
  assert.deepEqual(await transaction(state, 'a@other.example', ['x@foreign.example']), ['mail:permit', 'rcpt:reject']);
  assert.deepEqual(await transaction(state, 'a@other.example', ['bob@example.test']), ['mail:permit', 'rcpt:permit', 'data:permit']);
  assert.deepEqual(await transaction(state, 'a@other.example', ['bob@example.test']), ['mail:permit', 'rcpt:permit', 'data:permit']);
  const third = await policy.mail(state, 'a@other.example', {});
  assert.equal(third.decision.reason, 'mail.rate');
  assert.equal(third.decision.reply?.code, 450);
  assert.equal(third.decision.reply?.enhanced, '4.7.1');
  assert.equal(third.decision.detail?.limit, 'ip.messages 2/1h');
  // Refused MAILs do not count either: still exactly at the limit, on any connection.
  policy.close(state);
  const again = await open(OUT);
  assert.equal((await policy.mail(again.state, 'a@other.example', {})).decision.reason, 'mail.rate');
});

test('a transaction left open when the client leaves is not counted', async () => {
  const { policy, open, transaction } = setup('[ip]\nmessages = "1/1h"\n');
  const first = await open(OUT);
  assert.deepEqual(await transaction(first.state, 'a@other.example', []), ['mail:permit']);
  policy.close(first.state);
  await flush();
  const second = await open(OUT);
  assert.deepEqual(await transaction(second.state, 'a@other.example', ['bob@example.test']), ['mail:permit', 'rcpt:permit', 'data:permit']);
});

test('recipients: each accepted one counts at RCPT; refused ones (relay denied, over the limit) do not', async () => {
  const { policy, open, transaction } = setup('[ip]\nrecipients = "3/1h"\n');
  const { state } = await open(OUT);
  const verdicts = await transaction(state, 'a@other.example', ['x@foreign.example', 'y@foreign.example', 'b1@example.test', 'b2@example.test', 'b3@example.test', 'b4@example.test']);
  assert.deepEqual(verdicts, ['mail:permit', 'rcpt:reject', 'rcpt:reject', 'rcpt:permit', 'rcpt:permit', 'rcpt:permit', 'rcpt:defer', 'data:permit']);
  const over = await policy.mail(state, 'a@other.example', {});
  assert.equal(over.decision.verdict, 'permit', 'the message window is not the recipient window');
  const rcpt = await policy.rcpt(state, 'b5@example.test');
  assert.equal(rcpt.decision.reason, 'rcpt.rate');
  assert.equal(rcpt.decision.reply?.code, 450);
  assert.equal(rcpt.decision.reply?.enhanced, '4.7.1');
});

test('relay networks and the allowlist are not counted per IP', async () => {
  const { open, transaction } = setup('[ip]\nmessages = "1/1h"\nrecipients = "1/1h"\n');
  for (const ip of ['10.0.0.9', '198.51.100.7']) {
    const { state } = await open(ip);
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await transaction(state, 'a@other.example', ['b1@example.test', 'b2@example.test']), ['mail:permit', 'rcpt:permit', 'rcpt:permit', 'data:permit'], ip);
    }
  }
});

test('authenticated users: their quota from users.toml applies, the per-IP limits do not', async () => {
  const alice = { ...testUser('alice', ['alice@example.test']), quota: { messagesPerHour: 2 } };
  const { policy, open, transaction } = setup('[ip]\nmessages = "1/1h"\n[user]\nmessages = "100/1h"\n', { users: [alice, { name: 'bob', senders: ['bob@example.test'] }] });
  const { state } = await open(OUT, 'Alice');
  for (let i = 0; i < 2; i++) assert.deepEqual(await transaction(state, 'alice@example.test', ['x@foreign.example']), ['mail:permit', 'rcpt:permit', 'data:permit']);
  const over = await policy.mail(state, 'alice@example.test', {});
  assert.equal(over.decision.reason, 'quota.exceeded');
  assert.equal(over.decision.reply?.code, 450);
  assert.equal(over.decision.detail?.limit, 'quota.messages_per_hour 2/1h');
  // The quota follows the user, not the connection or the address.
  const elsewhere = await open('192.0.2.99', 'alice');
  assert.equal((await policy.mail(elsewhere.state, 'alice@example.test', {})).decision.reason, 'quota.exceeded');
  // Bob has no quota: the [user] default (100/1h), not the per-IP 1/1h.
  const bob = await open(OUT, 'bob');
  for (let i = 0; i < 3; i++) assert.deepEqual(await transaction(bob.state, 'bob@example.test', ['x@foreign.example']), ['mail:permit', 'rcpt:permit', 'data:permit']);
});

test('sender domain: counted across clients', async () => {
  const { policy, open, transaction } = setup('[sender_domain]\nmessages = "1/1h"\n');
  const one = await open(OUT);
  assert.deepEqual(await transaction(one.state, 'a@busy.example', ['bob@example.test']), ['mail:permit', 'rcpt:permit', 'data:permit']);
  const two = await open('192.0.2.201');
  const refused = await policy.mail(two.state, 'someone@Busy.Example', {});
  assert.equal(refused.decision.reason, 'mail.rate');
  assert.equal(refused.decision.detail?.scope, 'sender_domain');
  assert.equal((await policy.mail(two.state, '', {})).decision.verdict, 'permit', 'the null sender has no domain to count');
  assert.equal((await policy.mail(two.state, 'a@quiet.example', {})).decision.verdict, 'permit');
});

// Connect, AUTH, MAIL and DATA stages, table-driven; and the engine's own
// guarantees (first decisive rule wins, relay list decisive, errors -> 451).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  evaluateAuth,
  evaluateConnect,
  evaluateData,
  evaluateHelo,
  evaluateMail,
  evaluateRcpt,
  prepareMail,
  prepareRcpt,
} from '../../src/policy/engine.ts';
import { DEFAULT_RULES, type RuleLists } from '../../src/policy/rule-lists.ts';
import { dunno, reject, type Decision, type ReasonCode, type Verdict } from '../../src/policy/decision.ts';
import type { Facts } from '../../src/policy/facts.ts';
import type { ListenerInfo } from '../../src/policy/context.ts';
import { testConfig, testSnapshot } from '../helpers/policy-snapshot.ts';
import { MX, SUBMISSION, sessionWithSender, testSession, type SessionOptions } from '../helpers/policy-session.ts';

const snapshot = testSnapshot({
  config: testConfig('[smtp]\nmax_message_size = "10MB"'),
  users: [
    { name: 'alice', senders: ['alice@example.test', '*@Bücher.example'] },
    { name: 'bob', senders: ['*@other.test'] },
    { name: 'carol', senders: ['carol@example.test', '<>'] },
    { name: 'gateway', senders: ['*'] },
  ],
});

interface Expect {
  readonly verdict: Verdict;
  readonly reason: ReasonCode;
  readonly rule?: string;
  readonly code?: number;
  readonly enhanced?: string;
}

function check(decision: Decision, expect: Expect): void {
  const shown = JSON.stringify(decision);
  assert.equal(decision.verdict, expect.verdict, shown);
  assert.equal(decision.reason, expect.reason, shown);
  if (expect.rule !== undefined) assert.equal(decision.rule, expect.rule, shown);
  if (expect.code === undefined) assert.equal(decision.reply, undefined, shown);
  else {
    assert.equal(decision.reply?.code, expect.code, shown);
    assert.equal(decision.reply?.enhanced, expect.enhanced, shown);
  }
}

const OK: Expect = { verdict: 'permit', reason: 'ok', rule: 'default' };

describe('connect stage', () => {
  const rows: ReadonlyArray<readonly [string, string, Expect, Facts?]> = [
    ['clean client', '192.0.2.200', OK],
    ['denylisted network', '203.0.113.5', { verdict: 'reject', reason: 'denylist.listed', rule: 'denylist', code: 554, enhanced: '5.7.1' }],
    ['denylisted, IPv4-mapped', '::ffff:203.0.113.5', { verdict: 'reject', reason: 'denylist.listed', code: 554, enhanced: '5.7.1' }],
    ['denylisted host entry without reason', '203.0.113.99', { verdict: 'reject', reason: 'denylist.listed', code: 554, enhanced: '5.7.1' }],
    ['connection limit', '192.0.2.200', { verdict: 'defer', reason: 'conn.limit', code: 421, enhanced: '4.7.0' }, { connection: { exceeded: 'conn.limit' } }],
    ['connection rate', '192.0.2.200', { verdict: 'defer', reason: 'conn.rate', code: 421, enhanced: '4.7.0' }, { connection: { exceeded: 'conn.rate' } }],
    ['allowlisted client skips per-IP limits', '198.51.100.7', OK, { connection: { exceeded: 'conn.rate' } }],
    ['allowlisted client meets the global cap', '198.51.100.7', { verdict: 'defer', reason: 'conn.global_limit', code: 421, enhanced: '4.7.0' }, { connection: { exceeded: 'conn.global_limit' } }],
    ['shared counters unavailable, fail closed', '192.0.2.200', { verdict: 'defer', reason: 'limits.unavailable', code: 421, enhanced: '4.3.0' }, { connection: { unavailable: true } }],
    ['shared counters unavailable, allowlisted client not refused', '198.51.100.7', OK, { connection: { unavailable: true } }],
    ['denylist comes before limits', '203.0.113.5', { verdict: 'reject', reason: 'denylist.listed', code: 554, enhanced: '5.7.1' }, { connection: { exceeded: 'conn.limit' } }],
  ];
  for (const [name, ip, expect, facts] of rows) {
    it(name, () => check(evaluateConnect(testSession({ ip }), snapshot, facts ?? {}), expect));
  }

  it("replies with the denylist entry's reason and logs where it is", () => {
    const decision = evaluateConnect(testSession({ ip: '203.0.113.5' }), snapshot, {});
    assert.equal(decision.reply?.text, 'known spam source');
    assert.deepEqual(decision.detail, { cidr: '203.0.113.0/24', file: 'denylist', line: 1 });
    // The more specific host entry wins over the /24, and has no reason text.
    const host = evaluateConnect(testSession({ ip: '203.0.113.99' }), snapshot, {});
    assert.equal(host.reply?.text, 'Access denied');
    assert.equal(host.detail?.line, 2);
  });

  it('keeps control characters of a denylist reason out of the reply', () => {
    // The denylist parser already refuses such reasons; this is the rule's own
    // line of defence, so the entry is handed in directly.
    const base = testSnapshot();
    const entry = { cidr: '203.0.113.0/24', file: 'denylist', line: 1, reason: 'spam\u0007 source' };
    const snap = { ...base, denylist: { size: 1, lookup: () => entry, contains: () => true } };
    const decision = evaluateConnect(testSession({ ip: '203.0.113.5' }), snap, {});
    assert.equal(decision.reply?.text, 'spam  source');
  });
});

describe('helo stage', () => {
  it('permits by default (HELO sanity rules come with anti-abuse)', () => {
    check(evaluateHelo(testSession({ ip: '192.0.2.200', helo: 'mail.other.example' }), snapshot, {}), OK);
  });
});

describe('auth stage', () => {
  const MX_AUTH: ListenerInfo = { ...MX, authOffered: true };
  const rows: ReadonlyArray<readonly [string, SessionOptions, Facts, Expect]> = [
    ['good credentials over TLS', { ip: '192.0.2.200', listener: SUBMISSION }, { auth: { outcome: 'ok' } }, { verdict: 'permit', reason: 'auth.ok' }],
    ['bad credentials', { ip: '192.0.2.200', listener: SUBMISSION }, { auth: { outcome: 'failed' } }, { verdict: 'reject', reason: 'auth.failed', code: 535, enhanced: '5.7.8' }],
    ['locked out', { ip: '192.0.2.200', listener: SUBMISSION }, { auth: { outcome: 'locked' } }, { verdict: 'defer', reason: 'auth.locked', code: 454, enhanced: '4.7.0' }],
    ['before TLS, even with good credentials', { ip: '192.0.2.200', listener: SUBMISSION, tls: false }, { auth: { outcome: 'ok' } }, { verdict: 'reject', reason: 'auth.tls_required', code: 538, enhanced: '5.7.11' }],
    ['on an mx listener without AUTH', { ip: '192.0.2.200', listener: MX }, { auth: { outcome: 'ok' } }, { verdict: 'reject', reason: 'auth.not_offered', code: 502, enhanced: '5.5.1' }],
    ['on an mx listener that enables AUTH', { ip: '192.0.2.200', listener: MX_AUTH }, { auth: { outcome: 'ok' } }, { verdict: 'permit', reason: 'auth.ok' }],
    ['no credential outcome gathered: fails closed', { ip: '192.0.2.200', listener: SUBMISSION }, {}, { verdict: 'defer', reason: 'internal.error', code: 454, enhanced: '4.7.0' }],
  ];
  for (const [name, client, facts, expect] of rows) {
    it(name, () => {
      const ctx = { ...testSession(client), attempt: { user: 'alice', mechanism: 'PLAIN' } };
      check(evaluateAuth(ctx, snapshot, facts), expect);
    });
  }
});

describe('mail stage', () => {
  const OUT = { ip: '192.0.2.200' };
  const SUB_ANON = { ip: '192.0.2.200', listener: SUBMISSION };
  const ALICE = { ip: '192.0.2.200', listener: SUBMISSION, user: 'alice' };
  const BOB = { ip: '192.0.2.200', listener: SUBMISSION, user: 'bob' };
  const GHOST = { ip: '192.0.2.200', listener: SUBMISSION, user: 'ghost' };
  const NOT_OWNED: Expect = { verdict: 'reject', reason: 'mail.sender_not_owned', code: 553, enhanced: '5.7.1' };
  const BAD_SENDER: Expect = { verdict: 'reject', reason: 'mail.bad_address', code: 553, enhanced: '5.1.7' };
  const rows: ReadonlyArray<readonly [string, SessionOptions, string, Expect, { size?: number; facts?: Facts }?]> = [
    ['mx, any sender', OUT, '<someone@other.example>', OK],
    ['mx, null sender (bounce)', OUT, '<>', OK],
    ['mx, sender in a local domain (SPF is not ours to judge here)', OUT, '<ceo@example.test>', OK],
    ['submission without AUTH', SUB_ANON, '<alice@example.test>', { verdict: 'reject', reason: 'mail.auth_required', code: 530, enhanced: '5.7.0' }],
    ['submission without AUTH, null sender', SUB_ANON, '<>', { verdict: 'reject', reason: 'mail.auth_required', code: 530, enhanced: '5.7.0' }],
    ['authenticated, own address', ALICE, '<alice@example.test>', OK],
    ['authenticated, own address in other case', ALICE, '<Alice@EXAMPLE.TEST.>', OK],
    ['authenticated, own address quoted', ALICE, '<"alice"@example.test>', OK],
    ['authenticated, domain pattern (IDN)', ALICE, '<anyone@xn--bcher-kva.example>', OK],
    ['authenticated, someone else', ALICE, '<ceo@example.test>', NOT_OWNED],
    ['authenticated, foreign domain', ALICE, '<alice@other.example>', NOT_OWNED],
    ['authenticated, subdomain of a granted domain', ALICE, '<x@sub.xn--bcher-kva.example>', NOT_OWNED],
    // Issue 19 item 6: <> from a user is granted only by "*" or "<>" ([auth] null_sender = "granted", the default).
    ['authenticated, null sender', ALICE, '<>', NOT_OWNED],
    ['authenticated, null sender granted by "<>"', { ...ALICE, user: 'carol' }, '<>', OK],
    ['authenticated, null sender granted by "*"', { ...ALICE, user: 'gateway' }, '<>', OK],
    ['"<>" grants no other address', { ...ALICE, user: 'carol' }, '<someone@example.test>', NOT_OWNED],
    ['a grant for another domain grants nothing', BOB, '<bob@example.test>', NOT_OWNED],
    ['user vanished from users.toml after login', GHOST, '<ghost@example.test>', NOT_OWNED],
    ['declared size within limit', OUT, '<a@other.example>', OK, { size: 10 * 1024 * 1024 }],
    ['declared size over limit', OUT, '<a@other.example>', { verdict: 'reject', reason: 'mail.size_exceeded', code: 552, enhanced: '5.3.4' }, { size: 10 * 1024 * 1024 + 1 }],
    ['source-routed sender', OUT, '<@relay.other.example:a@other.example>', BAD_SENDER],
    ['quoted @ in sender', OUT, '<"a@b"@other.example>', BAD_SENDER],
    ['% hack in a local sender', OUT, '<user%foreign.test@example.test>', BAD_SENDER],
    ['sender without domain', OUT, '<user>', BAD_SENDER],
    ['sender with CRLF', OUT, '<a@other.example>\r\nRCPT TO:<x@foreign.test>', BAD_SENDER],
    ['sender domain does not exist', OUT, '<a@nx.example>', { verdict: 'reject', reason: 'mail.unknown_domain', code: 550, enhanced: '5.1.8' }, { facts: { senderDomain: { status: 'nxdomain' } } }],
    ['sender domain publishes null MX', OUT, '<a@nomail.example>', { verdict: 'reject', reason: 'mail.null_mx', code: 550, enhanced: '5.7.27' }, { facts: { senderDomain: { status: 'null_mx' } } }],
    ['sender domain lookup failed', OUT, '<a@slow.example>', { verdict: 'defer', reason: 'mail.unknown_domain', code: 450, enhanced: '4.1.8' }, { facts: { senderDomain: { status: 'temp_fail' } } }],
    ['unknown sender domain, relay network exempt', { ip: '10.0.0.9' }, '<a@nx.example>', OK, { facts: { senderDomain: { status: 'nxdomain' } } }],
    ['per-IP mail rate', OUT, '<a@other.example>', { verdict: 'defer', reason: 'mail.rate', code: 450, enhanced: '4.7.1' }, { facts: { rate: { exceeded: [{ scope: 'ip', limit: 'mail-per-ip' }] } } }],
    ['per-sender-domain rate', OUT, '<a@other.example>', { verdict: 'defer', reason: 'mail.rate', code: 450, enhanced: '4.7.1' }, { facts: { rate: { exceeded: [{ scope: 'sender_domain', limit: 'per-domain' }] } } }],
    ['per-IP mail rate, allowlist exempt', { ip: '198.51.100.7' }, '<a@other.example>', OK, { facts: { rate: { exceeded: [{ scope: 'ip', limit: 'mail-per-ip' }] } } }],
    ['shared counters unavailable, fail closed', OUT, '<a@other.example>', { verdict: 'defer', reason: 'limits.unavailable', code: 451, enhanced: '4.3.0' }, { facts: { rate: { exceeded: [], unavailable: true } } }],
  ];
  for (const [name, client, from, expect, extra] of rows) {
    it(name, () => {
      const ctx = testSession(client);
      const prepared = prepareMail(ctx, snapshot, extra?.size === undefined ? { address: from } : { address: from, size: extra.size });
      const decision = prepared.ok ? evaluateMail(prepared.ctx, snapshot, extra?.facts ?? {}) : prepared.decision;
      assert.equal(decision.stage, 'mail');
      check(decision, expect);
    });
  }

  it('[auth] null_sender = "any": every authenticated user may send <> (Postfix behaviour), other addresses still checked', () => {
    const any = testSnapshot({ config: testConfig('[auth]\nnull_sender = "any"'), users: [{ name: 'alice', senders: ['alice@example.test'] }] });
    const mail = (from: string) => {
      const prepared = prepareMail(testSession(ALICE), any, { address: from });
      assert.ok(prepared.ok);
      return evaluateMail(prepared.ctx, any, {});
    };
    check(mail('<>'), OK);
    check(mail('<ceo@example.test>'), NOT_OWNED);
  });

  it('the refusal of <> names the null sender and the user', () => {
    const prepared = prepareMail(testSession(ALICE), snapshot, { address: '<>' });
    assert.ok(prepared.ok);
    const decision = evaluateMail(prepared.ctx, snapshot, {});
    assert.equal(decision.reply?.text, 'Sender address rejected: the null sender <> is not granted to user alice');
  });

  it('starts a new transaction: recipients of the previous one are dropped', () => {
    const ctx = sessionWithSender({ ip: '192.0.2.200' }, snapshot);
    const rcpt = prepareRcpt(ctx, snapshot, { address: '<u@example.test>' });
    assert.ok(rcpt.ok);
    const prepared = prepareMail({ ...ctx, recipients: [rcpt.ctx.recipient] }, snapshot, { address: '<b@other.example>' });
    assert.ok(prepared.ok);
    assert.deepEqual(prepared.ctx.recipients, []);
  });
});

describe('data stage', () => {
  const ctx = sessionWithSender({ ip: '192.0.2.200' }, snapshot);
  const rows: ReadonlyArray<readonly [string, Facts, Expect]> = [
    ['clean message', { message: { size: 1000, bareLineEnding: false } }, OK],
    ['over the size limit', { message: { size: 10 * 1024 * 1024 + 1, bareLineEnding: false } }, { verdict: 'reject', reason: 'data.size_exceeded', code: 552, enhanced: '5.3.4' }],
    ['bare line ending', { message: { size: 1000, bareLineEnding: true } }, { verdict: 'reject', reason: 'data.bare_line_ending', code: 550, enhanced: '5.6.0' }],
  ];
  for (const [name, facts, expect] of rows) it(name, () => check(evaluateData(ctx, snapshot, facts), expect));

  it('leaves bare line endings alone under bare_line_endings = "normalize"', () => {
    const snap = testSnapshot({ config: testConfig('[smtp]\nbare_line_endings = "normalize"') });
    check(evaluateData(ctx, snap, { message: { size: 10, bareLineEnding: true } }), OK);
  });
});

describe('engine', () => {
  const throwing = { name: 'broken', evaluate: (): Decision => { throw new Error('boom'); } };

  it('turns a rule that throws into 451 4.3.0, never an accept', () => {
    const rules: RuleLists = { ...DEFAULT_RULES, connect: [throwing] };
    const decision = evaluateConnect(testSession({ ip: '192.0.2.200' }), snapshot, {}, rules);
    check(decision, { verdict: 'defer', reason: 'internal.error', code: 451, enhanced: '4.3.0' });
    assert.equal(decision.detail?.error, 'boom');
  });

  it('first decisive rule wins; dunno falls through', () => {
    const first = { name: 'first', evaluate: () => dunno('connect', 'first') };
    const second = { name: 'second', evaluate: () => reject('connect', 'second', 'denylist.listed', { code: 554, enhanced: '5.7.1', text: 'x' }) };
    const rules: RuleLists = { ...DEFAULT_RULES, connect: [first, second, throwing] };
    assert.equal(evaluateConnect(testSession({ ip: '192.0.2.200' }), snapshot, {}, rules).rule, 'second');
  });

  it('a relay list that falls through fails closed', () => {
    const rules: RuleLists = { ...DEFAULT_RULES, relay: DEFAULT_RULES.relay.slice(0, -1) };
    const ctx = sessionWithSender({ ip: '192.0.2.200' }, snapshot);
    const prepared = prepareRcpt(ctx, snapshot, { address: '<u@foreign.test>' });
    assert.ok(prepared.ok);
    const decision = evaluateRcpt(prepared.ctx, snapshot, {}, rules);
    assert.notEqual(decision.verdict, 'permit');
    assert.equal(decision.reason, 'internal.error');
  });

  it('the default relay list ends in a rule that always decides', () => {
    const last = DEFAULT_RULES.relay.at(-1);
    assert.ok(last);
    const ctx = sessionWithSender({ ip: '10.0.0.1', user: 'alice' }, snapshot);
    const prepared = prepareRcpt(ctx, snapshot, { address: '<u@example.test>' });
    assert.ok(prepared.ok);
    assert.equal(last.evaluate(prepared.ctx, snapshot, {}).verdict, 'reject');
  });

  it('no anti-spam rule can permit: a permitting rcpt rule cannot open the relay', () => {
    const opener = { name: 'opener', evaluate: () => ({ verdict: 'permit' as const, stage: 'rcpt' as const, rule: 'opener', reason: 'allowlist.listed' as const }) };
    const rules: RuleLists = { ...DEFAULT_RULES, rcpt: [opener] };
    const ctx = sessionWithSender({ ip: '198.51.100.7' }, snapshot);
    const prepared = prepareRcpt(ctx, snapshot, { address: '<u@foreign.test>' });
    assert.ok(prepared.ok);
    assert.equal(evaluateRcpt(prepared.ctx, snapshot, {}, rules).reason, 'relay.denied');
  });

  it('RCPT before MAIL is an internal error, not an accept', () => {
    const prepared = prepareRcpt(testSession({ ip: '192.0.2.200' }), snapshot, { address: '<u@example.test>' });
    assert.ok(!prepared.ok);
    assert.equal(prepared.decision.verdict, 'defer');
  });
});

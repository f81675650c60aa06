import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Authenticator, type AuthPolicy, type AuthRequest, type AuthenticatorOptions } from '../../src/auth/authenticator.ts';
import { AuthError } from '../../src/auth/errors.ts';
import { MemoryAuthFailureStore, type AuthFailureStore } from '../../src/auth/failure-store.ts';
import { verifyParsed, type ParsedHash } from '../../src/auth/password-hash.ts';
import type { Config } from '../../src/config/schema.ts';
import { authConfig, userDirectory } from '../helpers/auth-fixtures.ts';

const USERS = await userDirectory([
  { name: 'alice@example.com', password: 'alice-pw' },
  { name: 'bob@example.com', password: 'bob-pw' },
]);

// 2 failures -> delay, 4 -> lockout for 15 minutes.
const LIMITS = authConfig({ failures_before_delay: 2, failure_delay: '2s', failures_before_lockout: 4, failure_window: '15m', lockout: '15m' });

interface Harness {
  auth: Authenticator;
  store: MemoryAuthFailureStore;
  sleeps: number[];
  advance: (ms: number) => void;
  policy: AuthPolicy;
  attempt: (username: string, password: string, more?: Partial<AuthRequest>) => ReturnType<Authenticator['authenticate']>;
}

function harness(options: Partial<AuthenticatorOptions> = {}, limits: Config['auth'] = LIMITS): Harness {
  let now = 1_700_000_000_000;
  const store = new MemoryAuthFailureStore({ now: () => now });
  const sleeps: number[] = [];
  const auth = new Authenticator({ store, sleep: async (ms) => void sleeps.push(ms), ...options });
  const policy: AuthPolicy = { users: USERS, config: { auth: limits } };
  return {
    auth,
    store,
    sleeps,
    policy,
    advance: (ms) => void (now += ms),
    attempt: (username, password, more = {}) =>
      auth.authenticate({ method: 'PLAIN', username, password, clientIp: '192.0.2.10', tls: true, ...more }, policy),
  };
}

test('decisions by case (verdict, reason, reply code)', async () => {
  const rows: Array<{ name: string; request: Partial<AuthRequest> & { username: string; password: string }; verdict: string; reason: string; code?: number; enhanced?: string }> = [
    { name: 'right password', request: { username: 'alice@example.com', password: 'alice-pw' }, verdict: 'permit', reason: 'auth.ok' },
    { name: 'LOGIN, name in other case', request: { method: 'LOGIN', username: 'ALICE@example.com', password: 'alice-pw' }, verdict: 'permit', reason: 'auth.ok' },
    { name: 'wrong password', request: { username: 'alice@example.com', password: 'bob-pw' }, verdict: 'reject', reason: 'auth.failed', code: 535, enhanced: '5.7.8' },
    { name: 'unknown user', request: { username: 'mallory@example.com', password: 'alice-pw' }, verdict: 'reject', reason: 'auth.failed', code: 535, enhanced: '5.7.8' },
    { name: 'empty password', request: { username: 'alice@example.com', password: '' }, verdict: 'reject', reason: 'auth.failed', code: 535, enhanced: '5.7.8' },
    { name: 'no TLS, right password', request: { username: 'alice@example.com', password: 'alice-pw', tls: false }, verdict: 'reject', reason: 'auth.tls_required', code: 538, enhanced: '5.7.11' },
    { name: 'mechanism not offered', request: { method: 'CRAM-MD5', username: 'alice@example.com', password: 'alice-pw' }, verdict: 'reject', reason: 'auth.not_offered', code: 504, enhanced: '5.5.4' },
  ];
  for (const row of rows) {
    const h = harness();
    const { username, password, ...more } = row.request;
    const result = await h.attempt(username, password, more);
    assert.equal(result.decision.verdict, row.verdict, row.name);
    assert.equal(result.decision.reason, row.reason, row.name);
    assert.equal(result.decision.stage, 'auth', row.name);
    assert.equal(result.decision.reply?.code, row.code, row.name);
    assert.equal(result.decision.reply?.enhanced, row.enhanced, row.name);
    assert.equal(result.user?.name, row.verdict === 'permit' ? 'alice@example.com' : undefined, row.name);
  }
});

test('wrong user and wrong password give the very same reply', async () => {
  const h = harness();
  const wrongPassword = await h.attempt('alice@example.com', 'nope');
  const wrongUser = await h.attempt('nobody@example.com', 'nope', { clientIp: '192.0.2.11' });
  assert.deepEqual(wrongUser.decision.reply, wrongPassword.decision.reply);
  assert.equal(wrongUser.decision.reason, wrongPassword.decision.reason);
});

test('an unknown user is verified against a dummy hash with the users\' cost', async () => {
  const verified: ParsedHash[] = [];
  const h = harness({ verify: (password, hash) => (verified.push(hash), verifyParsed(password, hash)) });
  await h.attempt('nobody@example.com', 'alice-pw');
  await h.attempt('someone@example.com', 'x');
  await h.attempt('alice@example.com', 'wrong');
  assert.equal(verified.length, 3, 'every attempt runs exactly one verification');
  const [dummy1, dummy2, real] = verified as [ParsedHash, ParsedHash, ParsedHash];
  assert.deepEqual(dummy1.params, USERS.typicalParams);
  assert.deepEqual(dummy1.params, real.params);
  assert.equal(dummy1.key.length, real.key.length);
  assert.equal(dummy1.salt.length, real.salt.length);
  assert.equal(dummy1, dummy2, 'one dummy per cost, reused');
  for (const user of USERS.list()) assert.notDeepEqual(dummy1.key, user.parsedHash.key);
  assert.equal(real, USERS.get('alice@example.com')?.parsedHash);
});

test('delay after failures_before_delay, lockout after failures_before_lockout, lockout ends', async () => {
  const h = harness();
  const reasons: string[] = [];
  for (let i = 1; i <= 4; i++) {
    const result = await h.attempt('alice@example.com', `guess${i}`);
    reasons.push(result.decision.reason);
    h.advance(1000);
  }
  assert.deepEqual(reasons, ['auth.failed', 'auth.failed', 'auth.failed', 'auth.failed']);
  assert.deepEqual(h.sleeps, [2000, 2000], 'attempts 3 and 4 waited failure_delay first');
  // Locked now: even the right password is refused without being checked.
  const locked = await h.attempt('alice@example.com', 'alice-pw');
  assert.equal(locked.decision.verdict, 'defer');
  assert.equal(locked.decision.reason, 'auth.locked');
  assert.equal(locked.decision.reply?.code, 454);
  assert.equal(locked.decision.reply?.enhanced, '4.7.0');
  assert.equal(locked.user, undefined);
  h.advance(15 * 60_000);
  const after = await h.attempt('alice@example.com', 'alice-pw');
  assert.equal(after.decision.reason, 'auth.ok', 'the lockout ends');
  assert.deepEqual(h.sleeps, [2000, 2000], 'a fresh start has no delay');
});

test('a user name is locked across client addresses', async () => {
  const h = harness();
  for (let i = 0; i < 4; i++) await h.attempt('alice@example.com', 'wrong', { clientIp: `198.51.100.${i + 1}` });
  const fromNewIp = await h.attempt('alice@example.com', 'alice-pw', { clientIp: '203.0.113.9' });
  assert.equal(fromNewIp.decision.reason, 'auth.locked');
  assert.equal(fromNewIp.decision.detail?.locked, 'user');
  const otherUser = await h.attempt('bob@example.com', 'bob-pw', { clientIp: '203.0.113.9' });
  assert.equal(otherUser.decision.reason, 'auth.ok');
});

test('a client address is locked across user names, unknown names included', async () => {
  const h = harness();
  for (let i = 0; i < 4; i++) await h.attempt(`user${i}@example.com`, 'guess');
  const sameIp = await h.attempt('bob@example.com', 'bob-pw');
  assert.equal(sameIp.decision.reason, 'auth.locked');
  assert.equal(sameIp.decision.detail?.locked, 'ip');
  const otherIp = await h.attempt('bob@example.com', 'bob-pw', { clientIp: '192.0.2.99' });
  assert.equal(otherIp.decision.reason, 'auth.ok');
});

test('IPv6 clients in one /64 share a counter; IPv4-mapped addresses count as IPv4', async () => {
  const h = harness();
  for (let i = 0; i < 4; i++) await h.attempt('x@example.com', 'guess', { clientIp: `2001:db8:0:1::${i + 1}` });
  assert.equal((await h.attempt('bob@example.com', 'bob-pw', { clientIp: '2001:db8:0:1::ffff' })).decision.reason, 'auth.locked');
  assert.equal((await h.attempt('bob@example.com', 'bob-pw', { clientIp: '2001:db8:0:2::1' })).decision.reason, 'auth.ok');
  for (let i = 0; i < 4; i++) await h.attempt('y@example.com', 'guess', { clientIp: '::ffff:198.51.100.7' });
  assert.equal((await h.attempt('bob@example.com', 'bob-pw', { clientIp: '198.51.100.7' })).decision.reason, 'auth.locked');
});

test('a success resets the user\'s counter, not the client\'s', async () => {
  const h = harness();
  for (let i = 0; i < 3; i++) await h.attempt('alice@example.com', 'wrong');
  assert.equal((await h.attempt('alice@example.com', 'alice-pw')).decision.reason, 'auth.ok');
  // alice starts again from zero: three more failures from elsewhere do not lock her
  for (let i = 0; i < 3; i++) await h.attempt('alice@example.com', 'wrong', { clientIp: '198.51.100.1' });
  assert.equal((await h.attempt('alice@example.com', 'alice-pw', { clientIp: '198.51.100.2' })).decision.reason, 'auth.ok');
  // but 192.0.2.10 still has its three failures: one more and it is locked
  const fourth = await h.attempt('bob@example.com', 'wrong');
  assert.equal(fourth.decision.detail?.locked_now, true);
  assert.equal((await h.attempt('bob@example.com', 'bob-pw')).decision.reason, 'auth.locked');
});

test('without TLS nothing is counted or verified', async () => {
  let verifications = 0;
  const h = harness({ verify: async () => (verifications++, false) });
  for (let i = 0; i < 10; i++) await h.attempt('alice@example.com', 'wrong', { tls: false });
  assert.equal(verifications, 0);
  assert.equal(h.store.size, 0);
});

test('the password never appears in a decision or its detail', async () => {
  const h = harness();
  const secret = 'S3cret-Pa55word';
  const outcomes = [
    await h.attempt('alice@example.com', secret),
    await h.attempt('alice@example.com', secret, { tls: false }),
    await h.attempt(secret, secret),
    await h.attempt('alice@example.com', secret),
    await h.attempt('alice@example.com', secret),
    await h.attempt('alice@example.com', secret),
  ];
  assert.equal(outcomes.at(-1)?.decision.reason, 'auth.locked');
  for (const outcome of outcomes.slice(0, 2).concat(outcomes.slice(3))) {
    assert.doesNotMatch(JSON.stringify(outcome.decision), /S3cret/);
  }
  const ok = await harness().attempt('alice@example.com', 'alice-pw');
  assert.doesNotMatch(JSON.stringify(ok.decision), /alice-pw/);
});

test('counter store down: fail open by default, fail closed on request', async () => {
  const broken: AuthFailureStore = {
    peek: async () => Promise.reject(new Error('ECONNREFUSED')),
    recordFailure: async () => Promise.reject(new Error('ECONNREFUSED')),
    reset: async () => Promise.reject(new Error('ECONNREFUSED')),
  };
  const errors: unknown[] = [];
  const open = harness({ store: broken, onStoreError: (e) => errors.push(e) });
  assert.equal((await open.attempt('alice@example.com', 'alice-pw')).decision.reason, 'auth.ok');
  assert.equal((await open.attempt('alice@example.com', 'wrong')).decision.reason, 'auth.failed');
  assert.equal(errors.length, 4, 'peek + reset, then peek + record');
  const closed = harness({ store: broken, failOpen: false });
  await assert.rejects(closed.attempt('alice@example.com', 'alice-pw'), (error: unknown) => {
    assert.ok(error instanceof AuthError);
    assert.equal(error.code, 'AUTH_STORE_UNAVAILABLE');
    assert.equal(error.temporary, true);
    return true;
  });
});

test('at most maxConcurrentHashes verifications run at once', async () => {
  let running = 0;
  let peak = 0;
  const h = harness({
    maxConcurrentHashes: 2,
    verify: async (password, hash) => {
      running++;
      peak = Math.max(peak, running);
      try {
        return await verifyParsed(password, hash);
      } finally {
        running--;
      }
    },
  }, authConfig({ failures_before_lockout: 100 }));
  const results = await Promise.all(
    Array.from({ length: 8 }, (_, i) => h.attempt(i % 2 ? 'alice@example.com' : 'bob@example.com', i % 2 ? 'alice-pw' : 'x', { clientIp: `192.0.2.${i}` })),
  );
  assert.equal(peak, 2);
  assert.deepEqual(results.map((r) => r.decision.reason), Array.from({ length: 8 }, (_, i) => (i % 2 ? 'auth.ok' : 'auth.failed')));
});

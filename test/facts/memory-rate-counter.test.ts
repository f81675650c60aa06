// The in-process rate counter that answers at once (MemoryRateCounter) against
// the library it replaces on the hot path: rate-limiter-flexible's
// RateLimiterMemory through FlexibleRateCounter, driven by the same seeded
// random calls on a mocked clock (Date and setTimeout, so the library's own
// expiry timers run too). Same counts, same window ends, same refunds. Then
// its memory: a flood of distinct clients holds only the windows of the last
// window length, and nothing once the flood is over.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryRateCounter } from '../../src/facts/limits/memory-rate-counter.ts';
import { FlexibleRateCounter } from '../../src/facts/limits/rate-counter.ts';
import { MemoryConcurrencyCounter, type WindowCount } from '../../src/facts/limits/counters.ts';
import { GLOBAL_KEY, limitsProvider } from '../../src/facts/limits/limits-provider.ts';
import { parseLimitsFile } from '../../src/config/limits-file.ts';
import { parseSender } from '../../src/policy/address.ts';
import { silentLogger } from '../../src/log/logger.ts';
import type { Decision, Stage } from '../../src/policy/decision.ts';
import type { Facts } from '../../src/policy/facts.ts';
import type { SessionContext } from '../../src/policy/context.ts';
import { testSnapshot } from '../helpers/policy-snapshot.ts';
import { seededRandom } from '../helpers/seeded-random.ts';

const HOUR = 3_600_000;
const START = 1_780_000_000_000;

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;

/** Both counters on one mocked clock; built after mocking, so both read the mocked Date.now. */
function mockedClock(t: TestContext): void {
  t.mock.timers.enable({ apis: ['Date', 'setTimeout'], now: START });
}

test('same answers as rate-limiter-flexible for seeded random add, refund and time steps', async (t) => {
  mockedClock(t);
  // 0 s never ends; 500 ms, 1.2, 1.5 and 2.4 s round up to whole seconds, with the refund tolerance of the unrounded window.
  const windows = [0, 500, 1000, 1200, 1500, 2000, 2400, 60_000];
  // Steps around the tolerance (500 ms) and the window ends.
  const steps = [0, 1, 10, 249, 250, 251, 499, 500, 501, 999, 1000, 1001, 1499, 2000, 5000, 61_000];
  for (const seed of [1, 2, 3, 42, 2026]) {
    const r = seededRandom(seed);
    const ours = new MemoryRateCounter();
    const theirs = new FlexibleRateCounter();
    /** Each add's answers (equal, or the test has failed), per key and window. */
    const history = new Map<string, WindowCount[]>();
    for (let i = 0; i < 3000; i++) {
      const key = pick(r, ['a', 'b', 'c']);
      const windowMs = pick(r, windows);
      const where = `seed ${seed}, call ${i}: ${key} ${windowMs} ms`;
      const op = r();
      if (op < 0.45) {
        const points = pick(r, [0, 1, 1, 1, 2, 3]);
        const mine = ours.add(key, windowMs, points);
        const reference = await theirs.add(key, windowMs, points);
        assert.deepEqual(mine, reference, `${where}: add ${points}`);
        const list = history.get(`${key} ${windowMs}`) ?? [];
        list.push(mine);
        history.set(`${key} ${windowMs}`, list);
      } else if (op < 0.75) {
        const list = history.get(`${key} ${windowMs}`) ?? [];
        // Mostly a count this key made (its latest, or an older one of maybe another window), else one never made.
        const added = list.length > 0 && r() < 0.9 ? (r() < 0.7 ? list[list.length - 1] : pick(r, list)) as WindowCount : { count: 1, resetAt: Date.now() + Math.floor(r() * 3000) };
        const points = pick(r, [1, 1, 2, 4]);
        assert.equal(ours.refund(key, windowMs, added, points), undefined, `${where}: refund answers at once`);
        await theirs.refund(key, windowMs, added, points);
        // Compared by what the next count says.
        const after = ours.add(key, windowMs, 0);
        assert.deepEqual(after, await theirs.add(key, windowMs, 0), `${where}: after refund ${points}`);
      } else {
        t.mock.timers.tick(pick(r, steps));
      }
    }
  }
});

test('the answers are values, not promises; the rules of the in-process counter', (t) => {
  mockedClock(t);
  const counter = new MemoryRateCounter();
  const counts: number[] = [];
  for (let i = 0; i < 5; i++) counts.push(counter.add('k', HOUR).count);
  assert.deepEqual(counts, [1, 2, 3, 4, 5]);
  assert.equal(counter.add('other', HOUR).count, 1);
  assert.equal(counter.add('k', 60_000).count, 1, 'another window length is another count');
  assert.equal(counter.add('k', HOUR, 10).count, 15, 'several points at once');
  assert.deepEqual(counter.add('k', HOUR), { count: 16, resetAt: START + HOUR }, 'the window ends an hour after its first event');
  t.mock.timers.tick(HOUR - 1);
  assert.deepEqual(counter.add('k', HOUR), { count: 17, resetAt: START + HOUR });
  t.mock.timers.tick(1);
  assert.deepEqual(counter.add('k', HOUR), { count: 1, resetAt: START + 2 * HOUR }, 'at its end a new window begins');
  assert.throws(() => counter.add('k', -2000), RangeError);
});

test('a flood of distinct clients holds only the windows of the last window length, and nothing after', (t) => {
  mockedClock(t);
  const counter = new MemoryRateCounter();
  const windowMs = 60_000;
  const perSecond = 500;
  let most = 0;
  // Ten minutes of new addresses, each counted once: 300,000 keys.
  for (let second = 0; second < 600; second++) {
    for (let i = 0; i < perSecond; i++) counter.add(`conn:10.${second >> 8}.${second & 255}.${i}`, windowMs);
    most = Math.max(most, counter.size(windowMs));
    t.mock.timers.tick(1000);
  }
  // Held: the windows begun within the last minute, plus at most one sweep's delay (1 s).
  assert.ok(most <= perSecond * (windowMs / 1000 + 1), `at most ${most} windows held`);
  assert.ok(most >= perSecond * (windowMs / 1000), 'the windows of the last minute are all held');
  t.mock.timers.tick(windowMs + 1000);
  assert.equal(counter.size(windowMs), 0, 'an idle counter lets go of every ended window');
});

// The provider over both counters: the same facts stage by stage, the in-process
// one as values (no promise), for seeded random sessions, decisions and time steps.
test('the limits provider gives the same facts over the in-process counter (at once) as over rate-limiter-flexible', async (t) => {
  mockedClock(t);
  const parsed = parseLimitsFile('limits.toml', '[ip]\nmax_connections = 3\nconnections = "4/2s"\nmessages = "3/1s"\nrecipients = "5/2s"\n[sender_domain]\nmessages = "4/1s"\nrecipients = "6/1m"\n');
  if (!parsed.ok) throw new Error('limits.toml');
  const snapshot = testSnapshot({ limits: parsed.value, relayNetworks: ['10.0.0.0/8'] });
  const listener = { ...(snapshot.config.listeners[0] as NonNullable<(typeof snapshot.config.listeners)[0]>), name: 'mx', authOffered: false };
  const ours = { rates: new MemoryRateCounter(), connections: new MemoryConcurrencyCounter() };
  const theirs = { rates: new FlexibleRateCounter(), connections: new MemoryConcurrencyCounter() };
  const a = limitsProvider(ours, silentLogger());
  const b = limitsProvider(theirs, silentLogger());
  const options = { ourAddresses: new Set<string>(), localDomains: new Set<string>() };
  const senders = ['<a@one.example>', '<b@two.example>', '<>'].map((text) => {
    const sender = parseSender(text, options);
    if (!sender.ok) throw new Error(text);
    return sender.value;
  });
  const r = seededRandom(7);
  const verdicts: Decision['verdict'][] = ['permit', 'dunno', 'defer', 'reject'];
  type Open = { ctx: SessionContext & { sender?: unknown }; mine: ReturnType<typeof a.open>; reference: ReturnType<typeof b.open> };
  const open: Open[] = [];
  const step = async (o: Open, stage: Stage, label: string): Promise<void> => {
    const mine = o.mine.gather(stage, o.ctx);
    assert.ok(typeof (mine as Partial<Promise<Facts>>).then !== 'function', `${label}: the in-process counters answer at once`);
    assert.deepEqual(mine, await o.reference.gather(stage, o.ctx), label);
    const verdict = pick(r, verdicts);
    const decision = { verdict, stage, rule: 'test', reason: 'test' } as unknown as Decision;
    o.mine.decided?.(stage, o.ctx, decision);
    o.reference.decided?.(stage, o.ctx, decision);
  };
  for (let i = 0; i < 2000; i++) {
    const label = `call ${i}`;
    const op = r();
    if (op < 0.15 || open.length === 0) {
      const ctx = { listener, clientIp: pick(r, ['192.0.2.1', '192.0.2.2', '10.0.0.1']) } as unknown as Open['ctx'];
      const o: Open = { ctx, mine: a.open(ctx, snapshot), reference: b.open(ctx, snapshot) };
      open.push(o);
      await step(o, 'connect', `${label} connect`);
    } else if (op < 0.25) {
      const o = open.splice(Math.floor(r() * open.length), 1)[0] as Open;
      o.mine.close();
      o.reference.close();
    } else if (op < 0.45) {
      const o = pick(r, open);
      (o.ctx as { sender?: unknown }).sender = pick(r, senders);
      await step(o, 'mail', `${label} mail`);
    } else if (op < 0.75) {
      await step(pick(r, open), 'rcpt', `${label} rcpt`);
    } else if (op < 0.85) {
      await step(pick(r, open), 'data', `${label} data`);
    } else {
      t.mock.timers.tick(pick(r, [1, 100, 499, 500, 999, 1000, 2000]));
    }
    // Refunds and releases of the reference settle in microtasks (setImmediate is not mocked).
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(ours.connections.current(GLOBAL_KEY), theirs.connections.current(GLOBAL_KEY), label);
  }
});

test('a transaction given up before DATA does not count against the next MAIL, whichever counter (a store that answers later counted the next one first)', async () => {
  const parsed = parseLimitsFile('limits.toml', '[ip]\nmessages = "1/1h"\n');
  if (!parsed.ok) throw new Error('limits.toml');
  const snapshot = testSnapshot({ limits: parsed.value, relayNetworks: ['10.0.0.0/8'] });
  const listener = { ...(snapshot.config.listeners[0] as NonNullable<(typeof snapshot.config.listeners)[0]>), name: 'mx', authOffered: false };
  const ctx = { listener, clientIp: '192.0.2.1' } as unknown as SessionContext;
  const permit = { verdict: 'permit' } as unknown as Decision;
  const counted = { rate: { exceeded: [], counts: [{ scope: 'ip', name: 'ip.messages', windowMs: HOUR, count: 1 }] } };
  for (const rates of [new MemoryRateCounter(), new FlexibleRateCounter()]) {
    const session = limitsProvider({ rates, connections: new MemoryConcurrencyCounter() }, silentLogger()).open(ctx, snapshot);
    await session.gather('connect', ctx);
    session.decided?.('connect', ctx, permit);
    for (let i = 0; i < 3; i++) {
      // MAIL, then RSET (nothing to tell the provider) and MAIL again: each the only message counted.
      assert.deepEqual(await session.gather('mail', ctx), counted, `${rates.constructor.name}: MAIL ${i + 1}`);
      session.decided?.('mail', ctx, permit);
    }
    session.close();
  }
});

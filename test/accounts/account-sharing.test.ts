// The cluster side of the detector without Redis: the pure absorb* functions
// (another instance's activity counted, never judged), and two AccountMonitors
// joined by an in-process AccountStateStore that passes each one's events to
// the other (what src/cluster/redis-account-store.ts does through Redis; the
// Redis path itself is test/cluster/accounts.cluster.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accountsSection } from '../../src/config/schema.ts';
import { absorbAnswers, absorbLogin, absorbMessage, loginNetwork, newActivity, recordAnswers, recordLogin, recordMessage } from '../../src/accounts/account-activity.ts';
import { ACCOUNT_HOLD_BY, AccountMonitor } from '../../src/accounts/account-monitor.ts';
import type { AccountStateStore, AccountsState, SharedAccountEvent } from '../../src/accounts/account-store.ts';
import { silentLogger } from '../../src/log/logger.ts';

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);

test('absorbMessage counts another instance\'s domains into the window; only our own message is judged', () => {
  const config = accountsSection.parse({ recipient_domains: { floor: 10 } });
  const a = newActivity('u', T0);
  for (let i = 0; i < 6; i++) absorbMessage(a, { domains: [`d${i}.example`], at: T0 + i, suspect: false }, config);
  for (let i = 6; i < 10; i++) assert.deepEqual(recordMessage(a, { sender: 'u@x.test', recipients: [`r@d${i}.example`], at: T0 + i, suspect: false }, config), []);
  const fired = recordMessage(a, { sender: 'u@x.test', recipients: ['r@d10.example'], at: T0 + 10, suspect: false }, config);
  assert.deepEqual(fired.map((f) => [f.trigger, f.evidence.domains_in_window]), [['recipient_domains', 11]]);
  assert.equal(a.baseline.messages, 11, 'the hour counts both instances\' messages');
});

test('absorbMessage keeps the message times sorted when a remote one arrives late, and learns a clean sender only outside an episode', () => {
  const config = accountsSection.parse({});
  const a = newActivity('u', T0);
  recordMessage(a, { sender: 'u@x.test', recipients: ['r@a.example'], at: T0 + 100, suspect: false }, config);
  absorbMessage(a, { domains: ['b.example'], at: T0 + 50, suspect: false, cleanSender: 'Other@X.test' }, config);
  absorbMessage(a, { domains: ['c.example'], at: T0 + 150, suspect: true, cleanSender: 'bot@x.test' }, config);
  assert.deepEqual(a.messageTimes, [T0 + 50, T0 + 100, T0 + 150]);
  assert.deepEqual([...a.senders].sort(), ['other@x.test', 'u@x.test']);
});

test('absorbLogin and absorbAnswers count into the windows recordLogin and recordAnswers judge', () => {
  const config = accountsSection.parse({ login_networks: { floor: 2 }, remote_refusals: { floor: 4, share: 0.5 } });
  const a = newActivity('u', T0);
  absorbLogin(a, loginNetwork('192.0.2.7'), T0, config);
  absorbLogin(a, loginNetwork('198.51.100.7'), T0, config);
  assert.deepEqual(recordLogin(a, '203.0.113.9', T0 + 1, config).map((f) => [f.trigger, f.evidence.networks_in_window]), [['login_networks', 3]]);
  absorbAnswers(a, [true, true, false], T0, config);
  assert.deepEqual(recordAnswers(a, [true], T0 + 1, config).map((f) => [f.trigger, f.evidence.refused]), [['remote_refusals', 3]]);
});

/** Two stores joined in process: each one's shared events reach the other's handler. */
function joinedStores(): [AccountStateStore, AccountStateStore] {
  const handlers: Array<((event: SharedAccountEvent) => void) | undefined> = [undefined, undefined];
  const store = (me: number): AccountStateStore => ({
    load: async (): Promise<AccountsState> => ({ suspects: [], baselines: {} }),
    save: async () => undefined,
    share: (event) => handlers[1 - me]?.(structuredClone(event)),
    subscribe: (handler) => {
      handlers[me] = handler;
    },
  });
  return [store(0), store(1)];
}

test('two monitors sharing state: split activity meets one bar; hold, lock and release apply on both; each releases its own held ids', async () => {
  const config = accountsSection.parse({ recipient_domains: { floor: 4 } });
  const clock = { now: T0 };
  const [sa, sb] = joinedStores();
  const make = (store: AccountStateStore) => new AccountMonitor({ config: () => config, now: () => clock.now, logger: silentLogger(), store });
  const a = make(sa);
  const b = make(sb);
  await a.load();
  await b.load();
  const releasedA: string[] = [];
  const releasedB: string[] = [];
  a.attachQueue({ release: async (id) => (releasedA.push(id), true), isHeld: () => true });
  b.attachQueue({ release: async (id) => (releasedB.push(id), true), isHeld: () => true });

  const send = (m: AccountMonitor, i: number) => m.message('eve@example.test', 'eve@example.test', [`x@d${i}.example`], '192.0.2.1');
  for (let i = 0; i < 4; i++) assert.equal(send(i % 2 === 0 ? a : b, i), undefined, `message ${i} under the bar`);
  const hold = send(a, 4);
  assert.deepEqual(hold, { reason: 'account eve@example.test suspect: recipient_domains', by: ACCOUNT_HOLD_BY });
  a.queued('A-1', 'eve@example.test', ACCOUNT_HOLD_BY);
  assert.deepEqual(send(b, 5), hold, 'b holds too: the episode reached it');
  b.queued('B-1', 'eve@example.test', ACCOUNT_HOLD_BY);
  assert.deepEqual([a.suspects()[0]?.heldMessages, b.suspects()[0]?.heldMessages], [1, 1], 'each counts the ids it holds');
  assert.equal(b.counts().triggers.length, 0, 'b did not fire the trigger a fired');

  await b.lock('eve@example.test', 'admin');
  assert.equal(a.isLocked('eve@example.test'), true);
  assert.deepEqual(a.suspects()[0]?.triggers.map((t) => t.trigger), ['recipient_domains', 'manual']);

  assert.equal(await a.release('eve@example.test', 'admin', true), true);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(b.isLocked('eve@example.test'), false);
  assert.deepEqual([a.suspects(), b.suspects()], [[], []]);
  assert.deepEqual([releasedA, releasedB], [['A-1'], ['B-1']]);
  assert.equal(send(b, 6), undefined, 'windows start afresh on both');
});

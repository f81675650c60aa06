// The detector at run time (src/accounts/account-monitor.ts) without sockets:
// episodes, the Decision per trigger, release and lock, and the state file
// that carries suspects, locks and baselines across a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { accountsSection } from '../../src/config/schema.ts';
import { ACCOUNT_HOLD_BY, AccountMonitor, type AccountDecision } from '../../src/accounts/account-monitor.ts';
import { AccountStore } from '../../src/accounts/account-store.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { tempDir } from '../helpers/spool-fixtures.ts';

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);

function monitor(dir: string, clock: { now: number }, raw: Record<string, unknown> = {}, decided: AccountDecision[] = []) {
  const config = accountsSection.parse(raw);
  const file = path.join(dir, 'accounts.json');
  return new AccountMonitor({ config: () => config, now: () => clock.now, logger: silentLogger(), store: new AccountStore(file, silentLogger()), decided: (d) => decided.push(d) });
}

test('a trigger opens an episode once, as a Decision; its messages are held; release ends it', async (t) => {
  const dir = await tempDir(t, 'rg-accounts-');
  const clock = { now: T0 };
  const decided: AccountDecision[] = [];
  const m = monitor(dir, clock, { recipient_domains: { floor: 3 } }, decided);
  await m.load();
  assert.equal(m.message('Dan@Example.test', 'dan@example.test', ['a@1.example'], '192.0.2.1'), undefined);
  const hold = m.message('dan@example.test', 'dan@example.test', ['a@2.example', 'a@3.example', 'a@4.example'], '192.0.2.1');
  assert.deepEqual(hold, { reason: 'account dan@example.test suspect: recipient_domains', by: ACCOUNT_HOLD_BY });
  m.queued('Q1', 'dan@example.test', ACCOUNT_HOLD_BY);
  m.message('dan@example.test', 'dan@example.test', ['a@5.example'], '192.0.2.1');
  assert.equal(decided.length, 1, 'fires once per episode');
  assert.deepEqual([decided[0]?.decision.rule, decided[0]?.decision.reason, decided[0]?.decision.verdict], ['account-anomaly', 'account.recipient_domains', 'permit']);
  const [suspect] = m.suspects();
  assert.deepEqual([suspect?.user, suspect?.state, suspect?.heldMessages], ['dan@example.test', 'held', 1]);
  assert.deepEqual(m.counts().triggers, [{ trigger: 'recipient_domains', action: 'hold', count: 1 }]);
  const released: string[] = [];
  m.attachQueue({ release: async (id) => (released.push(id), true), isHeld: () => true });
  assert.equal(await m.release('DAN@example.test', 'admin', true), true);
  assert.deepEqual(released, ['Q1']);
  assert.equal(await m.release('dan@example.test', 'admin', true), false, 'no longer suspect');
  assert.equal(m.message('dan@example.test', 'dan@example.test', ['a@6.example'], '192.0.2.1'), undefined, 'the windows start afresh');
});

test('log only: a Decision, no hold; remote refusals come from the queue ids of the user', async (t) => {
  const dir = await tempDir(t, 'rg-accounts-');
  const clock = { now: T0 };
  const m = monitor(dir, clock, { remote_refusals: { floor: 4, share: 0.5, action: 'log' } });
  m.queued('Q9', 'eve@example.test', undefined);
  m.answers('Q9', [true, true, false], T0);
  assert.deepEqual(m.suspects(), []);
  m.answers('Q9', [true], T0 + 1);
  m.answers('unknown-id', [true, true, true, true], T0 + 2);
  const [s] = m.suspects();
  assert.deepEqual([s?.user, s?.state, s?.triggers.map((x) => x.trigger)], ['eve@example.test', 'logged', ['remote_refusals']]);
  assert.equal(m.holdFor('eve@example.test'), undefined);
});

test('locks, holds and baselines survive a restart (state file, atomic); an unreadable file is kept aside', async (t) => {
  const dir = await tempDir(t, 'rg-accounts-');
  const clock = { now: T0 };
  const first = monitor(dir, clock, { login_networks: { floor: 1 } });
  await first.load();
  await first.lock('frank@example.test', 'admin');
  first.login('gail@example.test', '192.0.2.1');
  first.login('gail@example.test', '198.51.100.1');
  for (let h = 0; h < 3; h++) {
    clock.now = T0 + h * 3_600_000;
    for (let i = 0; i < 10; i++) first.message('hank@example.test', 'hank@example.test', ['x@y.example'], '192.0.2.9');
  }
  await first.close();

  const second = monitor(dir, clock, { login_networks: { floor: 1 } });
  await second.load();
  assert.equal(second.isLocked('FRANK@example.test'), true);
  assert.deepEqual(second.suspects().map((s) => [s.user, s.state]).sort(), [['frank@example.test', 'locked'], ['gail@example.test', 'held']]);
  assert.ok(second.holdFor('gail@example.test'));
  const saved = JSON.parse(await readFile(path.join(dir, 'accounts.json'), 'utf8')) as { baselines: Record<string, { baseline: { peakMessages: number }; senders: string[] }> };
  assert.ok((saved.baselines['hank@example.test']?.baseline.peakMessages ?? 0) > 9, 'the baseline was kept');
  assert.deepEqual(saved.baselines['hank@example.test']?.senders, ['hank@example.test']);

  await writeFile(path.join(dir, 'accounts.json'), '{"suspects": [tru');
  const third = monitor(dir, clock);
  await third.load();
  assert.deepEqual(third.suspects(), []);
  assert.ok((await readdir(dir)).some((name) => name.startsWith('accounts.json.corrupt-')), 'the unreadable file is kept');
});

test('a burst of held messages is written coalesced, and the file ends with every queue id', async (t) => {
  const dir = await tempDir(t, 'rg-accounts-');
  const clock = { now: T0 };
  const m = monitor(dir, clock);
  await m.lock('ivan@example.test', 'admin');
  for (let i = 0; i < 500; i++) m.queued(`Q${i}`, 'ivan@example.test', ACCOUNT_HOLD_BY);
  await m.close();
  const saved = JSON.parse(await readFile(path.join(dir, 'accounts.json'), 'utf8')) as { suspects: Array<{ heldIds: string[] }> };
  assert.equal(saved.suspects[0]?.heldIds.length, 500);
});

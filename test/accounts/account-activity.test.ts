// The pure trigger logic of account anomaly detection (src/accounts/account-activity.ts):
// baseline, warm-up by floors, each trigger's bar, new sender, release.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accountsSection, type AccountsConfig } from '../../src/config/schema.ts';
import { HOUR_MS, newActivity, recordAnswers, recordLogin, recordMessage, resetWindows, threshold, type UserActivity } from '../../src/accounts/account-activity.ts';

const DAY = 24 * HOUR_MS;
const T0 = Date.UTC(2026, 0, 5, 0, 0, 0); // a Monday, 00:00 UTC
const defaults = (raw: Record<string, unknown> = {}): AccountsConfig => accountsSection.parse(raw);

/** `perHour` messages to `domains` distinct domains every hour from `from` for `hours`; returns every trigger fired. */
function sendSteady(a: UserActivity, config: AccountsConfig, from: number, hours: number, perHour: number, domains = 3): string[] {
  const fired: string[] = [];
  for (let h = 0; h < hours; h++) {
    for (let i = 0; i < perHour; i++) {
      const at = from + h * HOUR_MS + Math.floor((i * HOUR_MS) / perHour);
      fired.push(...recordMessage(a, { sender: 'alice@example.com', recipients: [`x${i}@d${i % domains}.example`], at, suspect: false }, config).map((f) => f.trigger));
    }
  }
  return fired;
}

test('threshold: the floor, or factor x the per-hour baseline scaled to the window', () => {
  assert.equal(threshold(300, 5, 0, HOUR_MS), 300);
  assert.equal(threshold(300, 5, 100, HOUR_MS), 500);
  assert.equal(threshold(10, 5, 100, HOUR_MS / 2), 250);
});

test('a new user with no history does not trip on a busy first day under the floors (warm-up)', () => {
  const config = defaults();
  const a = newActivity('new', T0);
  // 250 messages an hour for 8 hours to 90 domains each hour: far above any baseline (0), under both floors.
  assert.deepEqual(sendSteady(a, config, T0 + 8 * HOUR_MS, 8, 250, 90), []);
});

test('volume: over the floor and over factor x the baseline, the crossing message itself fires', () => {
  const config = defaults({ volume: { floor: 50, factor: 5 } });
  const a = newActivity('alice', T0);
  assert.deepEqual(sendSteady(a, config, T0, 3 * 24, 20), [], 'a steady 20/h: baseline 20/h, bar 100/h');
  const at = T0 + 3 * DAY + 10 * 60_000;
  let firedAt = -1;
  for (let i = 0; i < 200 && firedAt < 0; i++) {
    const fired = recordMessage(a, { sender: 'alice@example.com', recipients: ['b@d0.example'], at: at + i, suspect: false }, config);
    if (fired.some((f) => f.trigger === 'volume')) firedAt = i;
  }
  // The bar is 5 x ~20 (decayed a little) = ~99: the message that makes it ~100 in the hour fires.
  assert.ok(firedAt > 80 && firedAt <= 100, `fired at message ${firedAt}`);
});

test('the baseline is a decaying peak: a weekly newsletter becomes normal once seen', () => {
  const config = defaults();
  const a = newActivity('news', T0);
  const newsletter = (at: number) => {
    const fired = new Set<string>();
    for (let i = 0; i < 800; i++) {
      for (const f of recordMessage(a, { sender: 'news@example.com', recipients: [`r${i}@n${i}.example`], at: at + i * 1000, suspect: false }, config)) fired.add(f.trigger);
    }
    return [...fired].sort();
  };
  assert.deepEqual(newsletter(T0 + 10 * HOUR_MS), ['recipient_domains', 'volume'], 'the first one is new behaviour');
  // A week later (half-life 7 d: the peak is ~400 and ~400 domains): 800 is under 5 x that.
  assert.deepEqual(newsletter(T0 + 7 * DAY + 10 * HOUR_MS), []);
});

test('recipient domains: many distinct domains in the window over the floor', () => {
  const config = defaults({ recipient_domains: { floor: 30 } });
  const a = newActivity('bob', T0);
  const fired = recordMessage(a, { sender: 'bob@example.com', recipients: Array.from({ length: 31 }, (_, i) => `u@d${i}.example`), at: T0, suspect: false }, config);
  assert.deepEqual(fired.map((f) => [f.trigger, f.action]), [['recipient_domains', 'hold']]);
  assert.equal(fired[0]?.evidence.domains_in_window, 31);
  // Outside the window they no longer count.
  const later = recordMessage(a, { sender: 'bob@example.com', recipients: ['u@d0.example'], at: T0 + 2 * HOUR_MS, suspect: false }, config);
  assert.deepEqual(later, []);
});

test('login networks: /24 and /48 are one network each; more than the floor in the window fires', () => {
  const config = defaults({ login_networks: { floor: 3, action: 'lock' } });
  const a = newActivity('carol', T0);
  assert.deepEqual(recordLogin(a, '192.0.2.1', T0, config), []);
  assert.deepEqual(recordLogin(a, '192.0.2.200', T0 + 1, config), [], 'same /24');
  assert.deepEqual(recordLogin(a, '2001:db8:1:ff::1', T0 + 2, config), []);
  assert.deepEqual(recordLogin(a, '2001:db8:1:aa::9', T0 + 3, config), [], 'same /48');
  assert.deepEqual(recordLogin(a, '198.51.100.7', T0 + 4, config), [], 'three networks: not more than the floor');
  const fired = recordLogin(a, '203.0.113.9', T0 + 5, config);
  assert.deepEqual(fired.map((f) => [f.trigger, f.action]), [['login_networks', 'lock']]);
  assert.equal(fired[0]?.evidence.networks_in_window, 4);
  assert.deepEqual(recordLogin(a, '203.0.113.10', T0 + 2 * HOUR_MS, config), [], 'the window moved on');
});

test('remote refusals: needs the floor of answers, then the share of 5xx', () => {
  const config = defaults({ remote_refusals: { floor: 10, share: 0.5 } });
  const a = newActivity('dave', T0);
  assert.deepEqual(recordAnswers(a, Array(9).fill(true), T0, config), [], 'under the floor of answers');
  const fired = recordAnswers(a, [true], T0 + 1, config);
  assert.deepEqual(fired.map((f) => f.trigger), ['remote_refusals']);
  const b = newActivity('erin', T0);
  assert.deepEqual(recordAnswers(b, [...Array(6).fill(false), ...Array(5).fill(true)], T0, config), [], '5 of 11 is under half');
});

test('new sender: only together with another trigger or while suspect, and never learnt from such mail', () => {
  const config = defaults({ recipient_domains: { floor: 5, action: 'log' } });
  const a = newActivity('frank', T0);
  assert.deepEqual(recordMessage(a, { sender: 'frank@example.com', recipients: ['x@a.example'], at: T0, suspect: false }, config), []);
  assert.deepEqual(recordMessage(a, { sender: 'other@example.com', recipients: ['x@a.example'], at: T0 + 1, suspect: false }, config), [], 'a new sender alone is normal');
  const fired = recordMessage(a, { sender: 'bot@spam.example', recipients: ['a@1.example', 'a@2.example', 'a@3.example', 'a@4.example', 'a@5.example'], at: T0 + 2, suspect: false }, config);
  assert.deepEqual(fired.map((f) => [f.trigger, f.action]), [['recipient_domains', 'log'], ['new_sender', 'hold']]);
  assert.ok(!a.senders.has('bot@spam.example'));
  const whileSuspect = recordMessage(a, { sender: 'bot2@spam.example', recipients: ['a@1.example'], at: T0 + 3, suspect: true }, config);
  assert.ok(whileSuspect.some((f) => f.trigger === 'new_sender'));
});

test('nothing is learnt while suspect; a release starts the windows afresh', () => {
  const config = defaults({ volume: { floor: 10 } });
  const a = newActivity('gina', T0);
  for (let i = 0; i < 100; i++) recordMessage(a, { sender: 'g@example.com', recipients: ['x@a.example'], at: T0 + i, suspect: true }, config);
  recordMessage(a, { sender: 'g@example.com', recipients: ['x@a.example'], at: T0 + 2 * HOUR_MS, suspect: true }, config);
  assert.equal(a.baseline.peakMessages, 0, 'the suspect burst is not part of the baseline');
  resetWindows(a, T0 + 2 * HOUR_MS);
  assert.deepEqual(recordMessage(a, { sender: 'g@example.com', recipients: ['x@a.example'], at: T0 + 2 * HOUR_MS + 1, suspect: false }, config), []);
});

test('a release with the mail learns the episode into the baseline (a first newsletter); without, nothing', () => {
  const config = defaults();
  const send = (a: UserActivity, at: number, suspect: boolean) => {
    const fired = new Set<string>();
    for (let i = 0; i < 400; i++) {
      for (const f of recordMessage(a, { sender: 'n@example.com', recipients: [`r${i}@n${i}.example`], at: at + i * 1000, suspect: suspect || fired.size > 0 }, config)) fired.add(f.trigger);
    }
    return fired.size;
  };
  const learnt = newActivity('learnt', T0);
  const forgotten = newActivity('forgotten', T0);
  assert.ok(send(learnt, T0, false) > 0);
  assert.ok(send(forgotten, T0, false) > 0);
  resetWindows(learnt, T0 + HOUR_MS, true);
  resetWindows(forgotten, T0 + HOUR_MS, false);
  assert.ok(learnt.baseline.peakDomains >= 399, `learnt peak ${learnt.baseline.peakDomains}`);
  assert.equal(forgotten.baseline.peakDomains, 0);
  assert.equal(send(learnt, T0 + 2 * HOUR_MS, false), 0, 'the next newsletter is normal');
  assert.ok(send(forgotten, T0 + 2 * HOUR_MS, false) > 0);
});

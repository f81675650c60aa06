// Table tests of the pure retry and outcome logic (fixed clocks).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { retryDelay, planRetry, delayWarningDue } from '../../src/delivery/retry-schedule.ts';
import { planOutcome } from '../../src/delivery/message-outcome.ts';
import { initialState, applyEvent } from '../../src/spool/state-journal.ts';
import type { StoredEnvelope } from '../../src/spool/spool-file.ts';
import type { RecipientResult } from '../../src/delivery/smtp-reply.ts';
import { outcomeOfReply, localDeferral } from '../../src/delivery/smtp-reply.ts';

const M = 60_000;
const schedule = [1 * M, 5 * M, 15 * M];

test('retryDelay walks the schedule and repeats its last value', () => {
  const table: Array<[number, number]> = [[1, 1 * M], [2, 5 * M], [3, 15 * M], [4, 15 * M], [40, 15 * M], [0, 1 * M]];
  for (const [attempts, want] of table) assert.equal(retryDelay(schedule, attempts), want, `after attempt ${attempts}`);
});

test('planRetry: next attempt on the schedule, pulled in to the lifetime, expired past it', () => {
  const lifetime = 60 * M;
  const table: Array<{ now: number; attempts: number; want: ReturnType<typeof planRetry> }> = [
    { now: 0, attempts: 1, want: { kind: 'retry', at: 1 * M } },
    { now: 10 * M, attempts: 3, want: { kind: 'retry', at: 25 * M } },
    { now: 55 * M, attempts: 9, want: { kind: 'retry', at: 60 * M } },
    { now: 60 * M, attempts: 10, want: { kind: 'expired' } },
  ];
  for (const row of table) assert.deepEqual(planRetry({ now: row.now, receivedAt: 0, attempts: row.attempts, schedule, lifetime }), row.want);
});

test('delay warnings: once, after the configured delay, never for <> and never when disabled', () => {
  const table: Array<[Parameters<typeof delayWarningDue>[0], boolean]> = [
    [{ now: 4 * 3600_000, receivedAt: 0, delayWarning: 4 * 3600_000, warned: false, sender: 'a@b.test' }, true],
    [{ now: 3 * 3600_000, receivedAt: 0, delayWarning: 4 * 3600_000, warned: false, sender: 'a@b.test' }, false],
    [{ now: 5 * 3600_000, receivedAt: 0, delayWarning: 4 * 3600_000, warned: true, sender: 'a@b.test' }, false],
    [{ now: 5 * 3600_000, receivedAt: 0, delayWarning: 4 * 3600_000, warned: false, sender: '' }, false],
    [{ now: 5 * 3600_000, receivedAt: 0, delayWarning: 0, warned: false, sender: 'a@b.test' }, false],
  ];
  for (const [input, want] of table) assert.equal(delayWarningDue(input), want, JSON.stringify(input));
});

test('outcomeOfReply classifies replies and keeps enhanced codes', () => {
  const table: Array<[string, string, string]> = [
    ['250 2.0.0 Ok: queued', 'delivered', '2.0.0'],
    ['250 ok', 'delivered', '2.0.0'],
    ['450 4.2.1 busy', 'deferred', '4.2.1'],
    ['421 closing', 'deferred', '4.0.0'],
    ['550 5.1.1 no such user', 'failed', '5.1.1'],
    ['554 go away', 'failed', '5.0.0'],
    ['garbage', 'deferred', '4.0.0'],
  ];
  for (const [reply, status, enhanced] of table) {
    const r = outcomeOfReply('x@y.test', reply);
    assert.equal(r.status, status, reply);
    assert.equal(r.enhanced, enhanced, reply);
  }
});

const env: StoredEnvelope = { id: 'X', sender: 'a@s.test', recipients: ['r1@d.test', 'r2@d.test', 'r3@e.test'], clientIp: '192.0.2.1', helo: 'h', listener: 'mx', receivedAt: 0 };
const delivered = (r: string): RecipientResult => outcomeOfReply(r, '250 ok');
const deferred = (r: string): RecipientResult => outcomeOfReply(r, '451 4.3.0 later');
const failed = (r: string): RecipientResult => outcomeOfReply(r, '550 5.1.1 unknown');

test('planOutcome: done, retry, partial, expiry and the recipients that need a bounce', () => {
  const base = { envelope: env, state: initialState(env), now: 10 * M, schedule, lifetime: 60 * M, delayWarning: 0 };
  const all = planOutcome({ ...base, results: env.recipients.map(delivered) });
  assert.equal(all.done, true);
  assert.deepEqual(all.failed, []);

  const mixed = planOutcome({ ...base, results: [delivered('r1@d.test'), deferred('r2@d.test'), failed('r3@e.test')] });
  assert.equal(mixed.done, false);
  assert.equal(mixed.nextAttemptAt, 11 * M);
  assert.deepEqual(mixed.failed.map((r) => r.recipient), ['r3@e.test']);
  assert.equal(mixed.event.rcpt?.['r2@d.test']?.s, 'deferred');
  assert.equal(mixed.event.attempts, 1);

  const later = applyEvent(initialState(env), mixed.event);
  const expired = planOutcome({ ...base, state: later, now: 60 * M, results: [localDeferral('r2@d.test', 'connect failed')] });
  assert.equal(expired.done, true);
  assert.equal(expired.event.kind, 'expired');
  assert.deepEqual(expired.failed.map((r) => [r.recipient, r.status]), [['r2@d.test', 'failed']]);
  assert.match(expired.failed[0]?.reply ?? '', /expired/);

  // Recipients not attempted this round (another destination still running at shutdown) stay open.
  const partial = planOutcome({ ...base, results: [delivered('r1@d.test')] });
  assert.equal(partial.done, false);
  assert.equal(partial.nextAttemptAt, 10 * M);

  const warn = planOutcome({ ...base, now: 30 * M, delayWarning: 20 * M, results: [deferred('r1@d.test'), delivered('r2@d.test'), delivered('r3@e.test')] });
  assert.deepEqual(warn.warn.map((r) => r.recipient), ['r1@d.test']);
  assert.equal(warn.event.warned, true);
});

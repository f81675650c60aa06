import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeferralTracker } from '../../src/delivery/delivery-events.ts';
import type { DeliveryResult } from '../../src/observability/delivery-log.ts';

/** The tracker as a plain list walk: what DeferralTracker must answer, however it indexes. */
class Reference {
  readonly deferred = new Map<string, { queueId: string; domain: string; lastError: string }>();
  update(queueId: string, recipient: string, result: DeliveryResult, detail: string): void {
    const key = `${queueId}\u0000${recipient}`;
    if (result === 'deferred') this.deferred.set(key, { queueId, domain: recipient.slice(recipient.lastIndexOf('@') + 1).toLowerCase(), lastError: detail });
    else this.deferred.delete(key);
  }
  forget(queueId: string): void {
    for (const [key, entry] of this.deferred) if (entry.queueId === queueId) this.deferred.delete(key);
  }
  byDomain(): Array<{ domain: string; count: number; lastError?: string }> {
    const domains = new Map<string, { domain: string; count: number; lastError?: string }>();
    for (const entry of this.deferred.values()) {
      const row = domains.get(entry.domain) ?? { domain: entry.domain, count: 0 };
      row.count++;
      row.lastError = entry.lastError;
      domains.set(entry.domain, row);
    }
    return [...domains.values()].sort((a, b) => b.count - a.count).slice(0, 20);
  }
}

test('deferrals by domain: a retry or a removal forgets exactly that message, whatever the order of events', () => {
  const tracker = new DeferralTracker();
  const reference = new Reference();
  let seed = 7;
  const next = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const results: DeliveryResult[] = ['deferred', 'deferred', 'delivered', 'bounced'];
  for (let step = 0; step < 5000; step++) {
    const queueId = `Q${next(60)}`;
    if (next(10) === 0) {
      tracker.forget(queueId);
      reference.forget(queueId);
    } else {
      const recipient = `r${next(4)}@D${next(5)}.test`;
      const result = results[next(results.length)] as DeliveryResult;
      tracker.update(queueId, recipient, result, `451 try ${step}`);
      reference.update(queueId, recipient, result, `451 try ${step}`);
    }
    if (step % 250 === 0) assert.deepEqual(tracker.byDomain(), reference.byDomain(), `step ${step}`);
  }
  assert.deepEqual(tracker.byDomain(), reference.byDomain());
  for (let q = 0; q < 60; q++) tracker.forget(`Q${q}`);
  assert.deepEqual(tracker.byDomain(), []);
});

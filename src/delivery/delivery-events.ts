// Turns the queue runner's events into DeliveryLog events (one per recipient
// outcome) for the dashboard and metrics, and keeps the per-domain count of
// recipients waiting for a retry.
import type { DeliveryLog, DeliveryResult } from '../observability/delivery-log.ts';
import type { QueueRunner } from './queue-runner.ts';
import type { RefusalStats } from './refusal-stats.ts';

const RESULT: Record<string, DeliveryResult> = { delivered: 'delivered', deferred: 'deferred', failed: 'bounced' };

function domainOf(recipient: string): string {
  return recipient.slice(recipient.lastIndexOf('@') + 1).toLowerCase();
}

/** Recipients currently deferred, keyed queueId + recipient. */
export class DeferralTracker {
  readonly #deferred = new Map<string, { queueId: string; domain: string; lastError: string }>();
  /** queueId -> its keys in #deferred: a removed message forgets its own entries, not a walk over all of them. */
  readonly #keys = new Map<string, Set<string>>();

  update(queueId: string, recipient: string, result: DeliveryResult, detail: string): void {
    // Hot path (every delivered recipient): nothing to forget when nothing is deferred.
    if (result !== 'deferred' && this.#deferred.size === 0) return;
    const key = `${queueId}\u0000${recipient}`;
    if (result === 'deferred') {
      this.#deferred.set(key, { queueId, domain: domainOf(recipient), lastError: detail });
      const keys = this.#keys.get(queueId);
      if (keys) keys.add(key);
      else this.#keys.set(queueId, new Set([key]));
    } else if (this.#deferred.delete(key)) {
      const keys = this.#keys.get(queueId);
      keys?.delete(key);
      if (keys?.size === 0) this.#keys.delete(queueId);
    }
  }

  forget(queueId: string): void {
    const keys = this.#keys.get(queueId);
    if (!keys) return;
    this.#keys.delete(queueId);
    for (const key of keys) this.#deferred.delete(key);
  }

  byDomain(limit = 20): Array<{ domain: string; count: number; lastError?: string }> {
    const domains = new Map<string, { domain: string; count: number; lastError?: string }>();
    for (const entry of this.#deferred.values()) {
      const row = domains.get(entry.domain) ?? { domain: entry.domain, count: 0 };
      row.count++;
      row.lastError = entry.lastError;
      domains.set(entry.domain, row);
    }
    return [...domains.values()].sort((a, b) => b.count - a.count).slice(0, limit);
  }
}

export function forwardDeliveryEvents(runner: QueueRunner, log: DeliveryLog, deferrals: DeferralTracker, now: () => number, refusals?: RefusalStats): () => void {
  return runner.subscribe((event) => {
    if (event.type === 'removed') {
      deferrals.forget(event.queueId);
      return;
    }
    if (event.type !== 'attempt') return;
    log.publishAttempt({ durationMs: event.durationMs, result: event.results.every((r) => RESULT[r.status] === 'delivered') ? 'delivered' : 'failed' });
    for (const result of event.results) {
      const outcome = RESULT[result.status];
      if (!outcome) continue;
      deferrals.update(event.queueId, result.recipient, outcome, result.reply);
      if (outcome !== 'delivered') refusals?.record(domainOf(result.recipient), result.reply, event.at);
      log.publish({
        result: outcome,
        at: now(),
        queueId: event.queueId,
        recipient: result.recipient,
        domain: domainOf(result.recipient),
        ...(result.host ? { host: result.host } : {}),
        detail: result.reply,
      });
    }
  });
}

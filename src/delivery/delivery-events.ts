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

  update(queueId: string, recipient: string, result: DeliveryResult, detail: string): void {
    const key = `${queueId}\u0000${recipient}`;
    if (result === 'deferred') this.#deferred.set(key, { queueId, domain: domainOf(recipient), lastError: detail });
    else this.#deferred.delete(key);
  }

  forget(queueId: string): void {
    for (const [key, entry] of this.#deferred) if (entry.queueId === queueId) this.#deferred.delete(key);
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

// Counts of remote refusals of our mail since start (issue 19 item 3), by
// class (refusal-class.ts) and destination domain, and the block lists that
// name us: "our address is listed at X (seen in N replies from M domains)"
// on the dashboard. Fed by forwardDeliveryEvents (delivery-events.ts) with
// every deferred or failed recipient result that carries a remote reply.
import { classifyRefusal, type RefusalClass } from './refusal-class.ts';
import { replyCode } from './smtp-reply.ts';

export interface RefusalSummary {
  /** Refused recipients per class since start, most first. */
  readonly byClass: ReadonlyArray<{ readonly class: RefusalClass; readonly count: number }>;
  /** Per destination domain and class (the 20 biggest). */
  readonly byDomain: ReadonlyArray<{ readonly domain: string; readonly class: RefusalClass; readonly count: number }>;
  /** Block lists, rate limits and reputation verdicts naming a list or provider: about our address, not one message. */
  readonly listings: ReadonlyArray<{ readonly list: string; readonly class: RefusalClass; readonly replies: number; readonly domains: number; readonly lastAt: number; readonly lastReply: string }>;
}

const MAX_DOMAINS = 10_000;

export class RefusalStats {
  readonly #byClass = new Map<RefusalClass, number>();
  readonly #byDomain = new Map<string, number>();
  readonly #listings = new Map<string, { list: string; class: RefusalClass; replies: number; domains: Set<string>; lastAt: number; lastReply: string }>();

  /** One recipient's deferral or failure; replies without an SMTP code (local failures) are not counted. */
  record(domain: string, reply: string, at: number): void {
    if (replyCode(reply) === undefined) return;
    const { class: cls, list } = classifyRefusal(reply);
    this.#byClass.set(cls, (this.#byClass.get(cls) ?? 0) + 1);
    const key = `${domain}\u0000${cls}`;
    if (this.#byDomain.has(key) || this.#byDomain.size < MAX_DOMAINS) this.#byDomain.set(key, (this.#byDomain.get(key) ?? 0) + 1);
    if (list && (cls === 'blocklist' || cls === 'rate_limit' || cls === 'reputation')) {
      const id = `${cls}\u0000${list}`;
      const entry = this.#listings.get(id) ?? { list, class: cls, replies: 0, domains: new Set<string>(), lastAt: 0, lastReply: '' };
      entry.replies++;
      if (entry.domains.size < MAX_DOMAINS) entry.domains.add(domain);
      entry.lastAt = at;
      entry.lastReply = reply;
      this.#listings.set(id, entry);
    }
  }

  summary(): RefusalSummary {
    return {
      byClass: [...this.#byClass].map(([cls, count]) => ({ class: cls, count })).sort((a, b) => b.count - a.count),
      byDomain: [...this.#byDomain]
        .map(([key, count]) => {
          const [domain = '', cls = 'other'] = key.split('\u0000');
          return { domain, class: cls as RefusalClass, count };
        })
        .sort((a, b) => b.count - a.count)
        .slice(0, 20),
      listings: [...this.#listings.values()]
        .map((e) => ({ list: e.list, class: e.class, replies: e.replies, domains: e.domains.size, lastAt: e.lastAt, lastReply: e.lastReply }))
        .sort((a, b) => b.replies - a.replies),
    };
  }
}

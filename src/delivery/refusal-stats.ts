// Counts of remote refusals of our mail (issue 19 item 3), by class
// (refusal-class.ts) and destination domain since start, and the block lists
// that name us: "our address is listed at X (seen in N replies from M
// domains)" on the dashboard. Fed by forwardDeliveryEvents (delivery-events.ts)
// with every deferred or failed recipient result that carries a remote reply.
//
// Listings age out: N and M count the replies of the last `window` (config
// delivery.listing_window, default 24h), and a list not named in any reply
// for that long leaves the banner. A delisting is never announced by the
// remote side (the refusals just stop), so "not seen for a day" is the best
// evidence we get. The window is kept in up to 24 slices per listing: a count
// may include up to 1/24 of the window beyond it (one slice), never less.
// Per class and per domain counts stay totals since start: they are
// Prometheus counters, and rate() does the windowing there.
import { ADDRESS_CLASSES, classifyRefusal, type RefusalClass } from './refusal-class.ts';
import { replyCode } from './smtp-reply.ts';

export interface RefusalSummary {
  /** Refused recipients per class since start, most first. */
  readonly byClass: ReadonlyArray<{ readonly class: RefusalClass; readonly count: number }>;
  /** Per destination domain and class (the 20 biggest). */
  readonly byDomain: ReadonlyArray<{ readonly domain: string; readonly class: RefusalClass; readonly count: number }>;
  /**
   * Block lists, rate limits, reputation verdicts and reverse DNS refusals naming a list or provider: about our address, not one message.
   * replies and domains count the listing window; a list not seen within it is absent.
   */
  readonly listings: ReadonlyArray<{ readonly list: string; readonly class: RefusalClass; readonly replies: number; readonly domains: number; readonly lastAt: number; readonly lastReply: string }>;
}

export interface RefusalStatsOptions {
  /** The clock summary() reads (ms). Default Date.now. */
  readonly now?: () => number;
  /** How long a listing stays without a new reply naming it (ms); read at every call, so a reload applies. Default 24h. */
  readonly window?: () => number;
}

export const DEFAULT_LISTING_WINDOW = 24 * 3_600_000;
const MAX_DOMAINS = 10_000;
const SLICES = 24;

interface Slice {
  readonly from: number;
  last: number;
  replies: number;
  readonly domains: Set<string>;
}

interface Listing {
  readonly list: string;
  readonly class: RefusalClass;
  readonly slices: Slice[];
  lastAt: number;
  lastReply: string;
}

export class RefusalStats {
  readonly #byClass = new Map<RefusalClass, number>();
  readonly #byDomain = new Map<string, number>();
  readonly #listings = new Map<string, Listing>();
  readonly #now: () => number;
  readonly #window: () => number;

  constructor(options: RefusalStatsOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#window = options.window ?? (() => DEFAULT_LISTING_WINDOW);
  }

  /** One recipient's deferral or failure; replies without an SMTP code (local failures) are not counted. */
  record(domain: string, reply: string, at: number): void {
    if (replyCode(reply) === undefined) return;
    const { class: cls, list } = classifyRefusal(reply);
    this.#byClass.set(cls, (this.#byClass.get(cls) ?? 0) + 1);
    const key = `${domain}\u0000${cls}`;
    if (this.#byDomain.has(key) || this.#byDomain.size < MAX_DOMAINS) this.#byDomain.set(key, (this.#byDomain.get(key) ?? 0) + 1);
    if (list && ADDRESS_CLASSES.has(cls)) {
      const id = `${cls}\u0000${list}`;
      const entry = this.#listings.get(id) ?? { list, class: cls, slices: [], lastAt: 0, lastReply: '' };
      const window = this.#window();
      const sliceSpan = Math.max(1, Math.floor(window / SLICES));
      let slice = entry.slices.at(-1);
      if (!slice || at - slice.from >= sliceSpan) {
        slice = { from: at, last: at, replies: 0, domains: new Set<string>() };
        entry.slices.push(slice);
      }
      slice.replies++;
      slice.last = Math.max(slice.last, at);
      if (slice.domains.size < MAX_DOMAINS) slice.domains.add(domain);
      prune(entry, at - window);
      if (at >= entry.lastAt) {
        entry.lastAt = at;
        entry.lastReply = reply;
      }
      this.#listings.set(id, entry);
    }
  }

  summary(): RefusalSummary {
    const since = this.#now() - this.#window();
    const listings: Array<RefusalSummary['listings'][number]> = [];
    for (const [id, entry] of this.#listings) {
      prune(entry, since);
      if (entry.slices.length === 0 || entry.lastAt < since) {
        this.#listings.delete(id);
        continue;
      }
      const domains = new Set<string>();
      let replies = 0;
      for (const slice of entry.slices) {
        replies += slice.replies;
        for (const d of slice.domains) if (domains.size < MAX_DOMAINS) domains.add(d);
      }
      listings.push({ list: entry.list, class: entry.class, replies, domains: domains.size, lastAt: entry.lastAt, lastReply: entry.lastReply });
    }
    return {
      byClass: [...this.#byClass].map(([cls, count]) => ({ class: cls, count })).sort((a, b) => b.count - a.count),
      byDomain: [...this.#byDomain]
        .map(([key, count]) => {
          const [domain = '', cls = 'other'] = key.split('\u0000');
          return { domain, class: cls as RefusalClass, count };
        })
        .sort((a, b) => b.count - a.count)
        .slice(0, 20),
      listings: listings.sort((a, b) => b.replies - a.replies),
    };
  }
}

/** Drops the slices whose last reply is older than `since`; a slice is kept whole while any of it is inside. */
function prune(entry: Listing, since: number): void {
  let drop = 0;
  while (drop < entry.slices.length && (entry.slices[drop] as Slice).last < since) drop++;
  // About SLICES + 1 remain; the bound only guards against a clock that jumps.
  if (drop > 0) entry.slices.splice(0, drop);
  if (entry.slices.length > SLICES * 4) entry.slices.splice(0, entry.slices.length - SLICES * 4);
}

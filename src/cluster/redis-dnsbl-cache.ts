// The DNSBL cache's shared second level on Redis (SecondLevelCache in
// facts/dnsbl/dnsbl-cache.ts): an answer one instance got from DNS serves the
// others until its (already clamped) TTL ends, so N instances ask a DNSBL
// about a client once, not N times. Entries are JSON with the expiry inside,
// written with SET PX; a read is a single GET. Never rejects: an unreachable
// or slow Redis (bounded by the link) is a miss, and the lookup goes to DNS.
import type { SecondLevelCache } from '../facts/dnsbl/dnsbl-cache.ts';
import type { RedisLink } from './redis-link.ts';

interface Stored {
  readonly v: unknown;
  /** Epoch ms when the entry ends. */
  readonly exp: number;
}

export function redisDnsblCache(link: RedisLink, keyPrefix: string, now: () => number = Date.now): SecondLevelCache {
  const prefix = `${keyPrefix}dnsbl:`;
  return {
    async get(key) {
      let text: string | null;
      try {
        text = await link.run(() => link.client.get(prefix + key));
      } catch {
        return undefined; // counted by the link's health
      }
      if (text === null) return undefined;
      try {
        const stored = JSON.parse(text) as Partial<Stored>;
        const ttlMs = typeof stored.exp === 'number' ? stored.exp - now() : 0;
        return ttlMs > 0 ? { value: stored.v, ttlMs } : undefined;
      } catch {
        return undefined;
      }
    },
    set(key, value, ttlMs) {
      const ms = Math.floor(ttlMs);
      if (ms <= 0) return;
      const stored: Stored = { v: value, exp: now() + ms };
      link.run(() => link.client.set(prefix + key, JSON.stringify(stored), 'PX', ms)).catch(() => undefined);
    },
  };
}

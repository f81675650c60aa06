// Remembers hosts whose STARTTLS failed to negotiate, so that on an
// opportunistic route every later message does not pay for the failed
// handshake again (config delivery.tls_failure_memory). Bounded in size.
// What it remembers is learnt at level "opportunistic" and only ever used
// there: a session at "encrypt" or "verify" never skips TLS because of it
// (a handshake that failed once is tried again, and the mail waits if it
// fails again), so nothing learnt at a weaker level weakens a stronger one.
import type { TlsLevel } from '../config/schema.ts';

const MAX_ENTRIES = 10_000;

export class TlsMemory {
  readonly #until = new Map<string, number>();
  readonly #ttl: number;
  readonly #now: () => number;

  constructor(ttl: number, now: () => number) {
    this.#ttl = ttl;
    this.#now = now;
  }

  /** Whether a session to `key` (host:port) at `level` goes straight to clear text: only at opportunistic, after a remembered failure. */
  skipTls(key: string, level: TlsLevel): boolean {
    return level === 'opportunistic' && this.failedRecently(key);
  }

  failedRecently(key: string): boolean {
    const until = this.#until.get(key);
    if (until === undefined) return false;
    if (until > this.#now()) return true;
    this.#until.delete(key);
    return false;
  }

  /** A failed handshake at `level`; only an opportunistic one is remembered (the others never fall back). */
  remember(key: string, level: TlsLevel = 'opportunistic'): void {
    if (this.#ttl <= 0 || level !== 'opportunistic') return;
    this.#until.delete(key);
    this.#until.set(key, this.#now() + this.#ttl);
    if (this.#until.size > MAX_ENTRIES) {
      const oldest = this.#until.keys().next();
      if (!oldest.done) this.#until.delete(oldest.value);
    }
  }
}

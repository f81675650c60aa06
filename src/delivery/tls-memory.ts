// Remembers hosts whose STARTTLS failed to negotiate, so that on an
// opportunistic route every later message does not pay for the failed
// handshake again (config delivery.tls_failure_memory). Bounded in size.
const MAX_ENTRIES = 10_000;

export class TlsMemory {
  readonly #until = new Map<string, number>();
  readonly #ttl: number;
  readonly #now: () => number;

  constructor(ttl: number, now: () => number) {
    this.#ttl = ttl;
    this.#now = now;
  }

  failedRecently(key: string): boolean {
    const until = this.#until.get(key);
    if (until === undefined) return false;
    if (until > this.#now()) return true;
    this.#until.delete(key);
    return false;
  }

  remember(key: string): void {
    if (this.#ttl <= 0) return;
    this.#until.delete(key);
    this.#until.set(key, this.#now() + this.#ttl);
    if (this.#until.size > MAX_ENTRIES) {
      const oldest = this.#until.keys().next();
      if (!oldest.done) this.#until.delete(oldest.value);
    }
  }
}

// Per-destination limits: parallel deliveries (config
// delivery.per_destination_concurrency) and messages per minute
// (per_destination_rate, 0 = unlimited). Counts only; the runner asks
// before starting a job and tells when it ends. Time is passed in.
const WINDOW_MS = 60_000;

export type StartCheck = { readonly ok: true } | { readonly ok: false; readonly retryAt?: number };

export class DestinationLimiter {
  readonly #active = new Map<string, number>();
  readonly #starts = new Map<string, number[]>();
  #concurrency: number;
  #rate: number;

  constructor(concurrency: number, ratePerMinute: number) {
    this.#concurrency = concurrency;
    this.#rate = ratePerMinute;
  }

  configure(concurrency: number, ratePerMinute: number): void {
    this.#concurrency = concurrency;
    this.#rate = ratePerMinute;
  }

  active(key: string): number {
    return this.#active.get(key) ?? 0;
  }

  /** ok, or not now: busy (retry when a job ends) or rate-limited until retryAt. */
  check(key: string, now: number): StartCheck {
    if (this.active(key) >= this.#concurrency) return { ok: false };
    if (this.#rate > 0) {
      const starts = this.#prune(key, now);
      if (starts.length >= this.#rate) return { ok: false, retryAt: (starts[0] as number) + WINDOW_MS };
    }
    return { ok: true };
  }

  started(key: string, now: number): void {
    this.#active.set(key, this.active(key) + 1);
    if (this.#rate > 0) {
      const starts = this.#prune(key, now);
      starts.push(now);
      this.#starts.set(key, starts);
    }
  }

  finished(key: string): void {
    const n = this.active(key) - 1;
    if (n > 0) this.#active.set(key, n);
    else this.#active.delete(key);
  }

  #prune(key: string, now: number): number[] {
    const starts = this.#starts.get(key) ?? [];
    while (starts.length > 0 && (starts[0] as number) <= now - WINDOW_MS) starts.shift();
    if (starts.length === 0) this.#starts.delete(key);
    return starts;
  }
}

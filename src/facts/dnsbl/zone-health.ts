// PURE state machine: one circuit breaker per DNSBL zone. A zone is
// suspended (no longer asked, counts as not listed) when
//   - `failures_to_suspend` lookups in a row fail or answer a zone problem
//     (timeout, SERVFAIL, 127.255.255.x, an answer outside 127/8),
//   - a health probe shows it broken (RFC 5782 test entry missing, error code,
//     answer outside 127/8, or it lists 127.0.0.1: "lists everything"),
//   - its hit rate over the last `hit_rate_window` queries reaches
//     `max_hit_rate` (a zone suddenly listing nearly everyone is broken, not
//     right).
// A suspended zone is probed every `suspended_probe_interval` and resumed after
// `healthy_probes_to_resume` good probes in a row. Callers log the transitions.
import type { DnsblHealthSettings } from '../../config/dnsbl-file.ts';

export type ZoneState = 'active' | 'suspended';

/** Why a zone was suspended (also what a failed probe found). */
export type HealthProblem =
  | 'timeout'
  | 'servfail'
  | 'refused'
  | 'failure'
  | 'error_code'
  | 'outside_127'
  | 'lists_everything'
  | 'test_entry_missing'
  | 'hit_rate';

/** What one real query for a client told us about the zone. */
export type QueryOutcome = { readonly ok: true; readonly listed: boolean } | { readonly ok: false; readonly problem: HealthProblem };

export interface ProbeResult {
  readonly ok: boolean;
  readonly problem?: HealthProblem;
  /** A problem a retry may not show (timeout, SERVFAIL) counts like a failed query instead of suspending at once. */
  readonly temporary?: boolean;
}

export interface Transition {
  readonly to: ZoneState;
  readonly reason: HealthProblem | 'healthy';
}

export interface ZoneHealthSnapshot {
  readonly state: ZoneState;
  /** Why it is suspended (absent while active). */
  readonly reason?: HealthProblem;
  /** Wall-clock ms of the last state change; 0 = never changed. */
  readonly since: number;
  readonly consecutiveFailures: number;
  /** Share of listed answers in the current window (0..1); null until enough samples. */
  readonly windowHitRate: number | null;
  readonly lastProbe?: { readonly at: number; readonly ok: boolean; readonly problem?: HealthProblem };
}

export class ZoneHealth {
  readonly #settings: DnsblHealthSettings;
  #state: ZoneState = 'active';
  #reason: HealthProblem | undefined;
  #since = 0;
  #failures = 0;
  #goodProbes = 0;
  #window: Uint8Array;
  #windowNext = 0;
  #windowCount = 0;
  #windowListed = 0;
  #lastProbe: ZoneHealthSnapshot['lastProbe'];

  constructor(settings: DnsblHealthSettings) {
    this.#settings = settings;
    this.#window = new Uint8Array(settings.hitRateWindow);
  }

  get state(): ZoneState {
    return this.#state;
  }

  recordQuery(outcome: QueryOutcome, now: number): Transition | undefined {
    if (this.#state === 'suspended') return undefined;
    if (!outcome.ok) return this.#fail(outcome.problem, now);
    this.#failures = 0;
    this.#pushSample(outcome.listed);
    const rate = this.#rate();
    if (rate !== null && rate >= this.#settings.maxHitRate) return this.#suspend('hit_rate', now);
    return undefined;
  }

  recordProbe(result: ProbeResult, now: number): Transition | undefined {
    this.#lastProbe = result.problem ? { at: now, ok: result.ok, problem: result.problem } : { at: now, ok: result.ok };
    if (this.#state === 'active') {
      if (result.ok) return undefined;
      const problem = result.problem ?? 'failure';
      return result.temporary ? this.#fail(problem, now) : this.#suspend(problem, now);
    }
    if (!result.ok) {
      this.#goodProbes = 0;
      return undefined;
    }
    this.#goodProbes++;
    if (this.#goodProbes < this.#settings.healthyProbesToResume) return undefined;
    this.#state = 'active';
    this.#reason = undefined;
    this.#since = now;
    this.#failures = 0;
    this.#clearWindow();
    return { to: 'active', reason: 'healthy' };
  }

  snapshot(): ZoneHealthSnapshot {
    const base = {
      state: this.#state,
      since: this.#since,
      consecutiveFailures: this.#failures,
      windowHitRate: this.#rate(),
      ...(this.#lastProbe ? { lastProbe: this.#lastProbe } : {}),
    };
    return this.#reason ? { ...base, reason: this.#reason } : base;
  }

  #fail(problem: HealthProblem, now: number): Transition | undefined {
    this.#failures++;
    return this.#failures >= this.#settings.failuresToSuspend ? this.#suspend(problem, now) : undefined;
  }

  #suspend(reason: HealthProblem, now: number): Transition {
    this.#state = 'suspended';
    this.#reason = reason;
    this.#since = now;
    this.#goodProbes = 0;
    return { to: 'suspended', reason };
  }

  #pushSample(listed: boolean): void {
    const size = this.#window.length;
    if (this.#windowCount === size) this.#windowListed -= this.#window[this.#windowNext] as number;
    else this.#windowCount++;
    this.#window[this.#windowNext] = listed ? 1 : 0;
    this.#windowListed += listed ? 1 : 0;
    this.#windowNext = (this.#windowNext + 1) % size;
  }

  #rate(): number | null {
    return this.#windowCount >= this.#settings.hitRateMinSamples ? this.#windowListed / this.#windowCount : null;
  }

  #clearWindow(): void {
    this.#window.fill(0);
    this.#windowNext = 0;
    this.#windowCount = 0;
    this.#windowListed = 0;
  }
}

// One configured zone at run time: asks it (through the shared cache), turns
// answers into ZoneResults, feeds its circuit breaker, counts, probes on a
// timer, and logs what an operator must see: zone problems and failures
// (warn, at most once a minute per kind, the rest at debug) and suspensions
// (error) / resumptions (warn). Logs name the zone by its display name only.
import type { Logger } from '../../log/logger.ts';
import type { ZoneResult } from '../../policy/dnsbl-rule.ts';
import type { AResult, DnsblCache, DnsblResolver } from './dnsbl-cache.ts';
import type { DnsblHealthSettings, DnsblZone } from '../../config/dnsbl-file.ts';
import { renderReplyText, wantsTxt } from './reply-text.ts';
import { classifyAnswers } from '../../config/return-codes.ts';
import { ZoneCounters } from './zone-stats.ts';
import { ZoneHealth, type HealthProblem, type QueryOutcome, type Transition } from './zone-health.ts';
import { probeZone } from './zone-probe.ts';

export interface Subject {
  readonly target: ZoneResult['target'];
  /** The IP or domain, as shown in results. */
  readonly value: string;
  /** The DNS question (holds the key; never shown). */
  readonly queryName: string;
  /** The client IP, for reply templates. */
  readonly clientIp: string;
}

/** Observes every DNS query sent for a client lookup (for metrics histograms). */
export type QueryObserver = (event: { readonly zone: string; readonly ms: number; readonly outcome: 'listed' | 'clean' | 'failed' | 'zone_problem' }) => void;

export interface RuntimeDeps {
  readonly logger: Logger;
  readonly resolver: DnsblResolver;
  /** Wall clock (ms). */
  readonly now: () => number;
  readonly onQuery?: QueryObserver;
}

const WARN_EVERY_MS = 60_000;

export class ZoneRuntime {
  zone: DnsblZone;
  readonly health: ZoneHealth;
  readonly healthSettings: DnsblHealthSettings;
  readonly counters = new ZoneCounters();
  readonly #deps: RuntimeDeps;
  readonly #lastWarn = new Map<string, { at: number; suppressed: number }>();
  #timer: NodeJS.Timeout | undefined;
  #probing: Promise<void> | undefined;
  #scheduled = false;

  constructor(zone: DnsblZone, healthSettings: DnsblHealthSettings, deps: RuntimeDeps) {
    this.zone = zone;
    this.healthSettings = healthSettings;
    this.health = new ZoneHealth(healthSettings);
    this.#deps = deps;
  }

  /**
   * A result, built field by field: results live as long as their connection
   * (the check awaits them at RCPT), and `{ ...base, status, ...extra }`
   * compiled by TurboFan gives each object a map of its own (~300 bytes per
   * result, two per connection, and megamorphic reads); these share one.
   */
  #result(subject: Subject, status: ZoneResult['status'], extra?: Partial<Pick<ZoneResult, 'problem' | 'codes' | 'text' | 'cached'>>): ZoneResult {
    const { zone } = this;
    const result: { -readonly [K in keyof ZoneResult]: ZoneResult[K] } = { zone: zone.name, kind: zone.kind, target: subject.target, subject: subject.value, weight: zone.weight, onError: zone.onError, status };
    if (extra?.problem !== undefined) result.problem = extra.problem;
    if (extra?.codes !== undefined) result.codes = extra.codes;
    if (extra?.text !== undefined) result.text = extra.text;
    if (extra?.cached !== undefined) result.cached = extra.cached;
    return result;
  }

  /** Asks the zone about one subject. Never rejects. */
  lookup(subject: Subject, cache: DnsblCache): Promise<ZoneResult> {
    if (this.health.state === 'suspended') {
      this.counters.suspendedSkips++;
      return Promise.resolve(this.#result(subject, 'suspended', { problem: this.health.snapshot().reason ?? 'suspended' }));
    }
    this.counters.lookups++;
    const cached = cache.cachedA(subject.queryName);
    // Hot path (most clients of a warm cache): a cached "not listed" is one
    // settled result, without the async chain, the clock or a closure.
    if (cached?.type === 'none') return Promise.resolve(this.#result(subject, 'clean', { cached: true }));
    return this.#answer(subject, cache, cached);
  }

  /** The rest of lookup(): `hit` is the cached answer, else the cache (or DNS) is asked now. */
  async #answer(subject: Subject, cache: DnsblCache, hit: AResult | undefined): Promise<ZoneResult> {
    const started = performance.now();
    const { result, status } = hit !== undefined ? { result: hit, status: 'hit' as const } : await cache.lookupA(subject.queryName);
    const queried = status === 'miss';
    const cached = queried ? undefined : true;
    if (queried) {
      this.counters.queries++;
      this.counters.observeLatency(performance.now() - started);
    }
    const observe = (outcome: 'listed' | 'clean' | 'failed' | 'zone_problem', health: QueryOutcome): void => {
      if (!queried) return;
      this.#deps.onQuery?.({ zone: this.zone.name, ms: performance.now() - started, outcome });
      this.#transition(this.health.recordQuery(health, this.#deps.now()));
    };
    if (result.type === 'failed') {
      if (queried) {
        this.counters.errors++;
        if (result.why === 'timeout') this.counters.timeouts++;
        this.#warn(result.why, { subject: subject.value, error: result.why }, 'DNSBL lookup failed; counted as not listed');
      }
      const problem: HealthProblem = result.why === 'timeout' || result.why === 'servfail' || result.why === 'refused' ? result.why : 'failure';
      observe('failed', { ok: false, problem });
      return this.#result(subject, 'failed', { problem: result.why, cached });
    }
    if (result.type === 'none') {
      observe('clean', { ok: true, listed: false });
      return this.#result(subject, 'clean', { cached });
    }
    const sorted = classifyAnswers(this.zone.filter, result.addresses);
    if (sorted.problem) {
      if (queried) {
        this.counters.zoneProblems++;
        this.#warn(sorted.problem, { subject: subject.value, answers: sorted.problemAnswers.join(','), problem: sorted.problem }, 'DNSBL zone answered an error code or a foreign address; counted as not listed');
      }
      observe('zone_problem', { ok: false, problem: sorted.problem });
      return this.#result(subject, 'zone_problem', { problem: sorted.problem, codes: sorted.problemAnswers, cached });
    }
    const listed = sorted.listed.length > 0;
    observe(listed ? 'listed' : 'clean', { ok: true, listed });
    if (!listed) return this.#result(subject, 'clean', { cached });
    this.counters.listed++;
    let txt: string | undefined;
    if (wantsTxt(this.zone)) {
      const texts = await cache.lookupTxt(subject.queryName, result.ttl);
      if (texts.result.type === 'text') txt = texts.result.texts[0];
    }
    const vars = { ip: subject.clientIp, ...(subject.target === 'client' ? {} : { domain: subject.value }), ...(txt !== undefined ? { txt } : {}) };
    const text = renderReplyText(this.zone, vars);
    return this.#result(subject, 'listed', { codes: sorted.listed, text: text || undefined, cached });
  }

  /** Runs one RFC 5782 probe now (joins one already running). */
  probe(): Promise<void> {
    this.#probing ??= (async () => {
      this.counters.probes++;
      const result = await probeZone(this.zone, this.#deps.resolver);
      if (!result.ok) {
        this.counters.probeFailures++;
        this.#warn(`probe:${result.problem}`, { problem: result.problem, state: this.health.state }, 'DNSBL zone failed its health probe');
      }
      this.#transition(this.health.recordProbe(result, this.#deps.now()));
    })().finally(() => {
      this.#probing = undefined;
      this.#reschedule();
    });
    return this.#probing;
  }

  /** Probes on a timer from now on: every probe_interval, or suspended_probe_interval while suspended. */
  startProbing(): void {
    this.#scheduled = true;
    this.#reschedule();
  }

  stopProbing(): void {
    this.#scheduled = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #reschedule(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#scheduled) return;
    const settings = this.healthSettings;
    const delay = this.health.state === 'suspended' ? settings.suspendedProbeInterval : settings.probeInterval;
    if (delay <= 0) return;
    this.#timer = setTimeout(() => void this.probe(), delay);
    this.#timer.unref();
  }

  #transition(transition: Transition | undefined): void {
    if (!transition) return;
    const { logger } = this.#deps;
    if (transition.to === 'suspended') {
      logger.error(
        { zone: this.zone.name, reason: transition.reason, ...this.health.snapshot() },
        `DNSBL zone ${this.zone.name} SUSPENDED (${transition.reason}): it no longer counts until its health probes pass`,
      );
    } else {
      logger.warn({ zone: this.zone.name }, `DNSBL zone ${this.zone.name} resumed: health probes pass again`);
    }
    this.#reschedule();
  }

  #warn(kind: string, fields: Record<string, unknown>, message: string): void {
    const now = this.#deps.now();
    const last = this.#lastWarn.get(kind);
    if (last && now - last.at < WARN_EVERY_MS) {
      last.suppressed++;
      this.#deps.logger.debug({ zone: this.zone.name, ...fields }, message);
      return;
    }
    this.#lastWarn.set(kind, { at: now, suppressed: 0 });
    this.#deps.logger.warn({ zone: this.zone.name, ...fields, ...(last?.suppressed ? { suppressed: last.suppressed } : {}) }, message);
  }
}

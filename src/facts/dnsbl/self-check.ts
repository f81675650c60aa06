// The periodic self-check (issue 19 item 3): our own outbound addresses looked
// up in the configured DNSBL zones, so the admin learns of a listing before
// remote servers start refusing our mail. Contract:
//
//   const selfCheck = new SelfCheck({ checker: () => dnsbl, settings: () => config.self_check, logger })
//   selfCheck.start()      // a run now, then every interval; update() after a reload
//   selfCheck.status()     // for /api/status, /metrics and the dashboard banner
//
// Which addresses: the ones config [self_check] addresses lists. relayguard
// does not bind outgoing connections to a source address, and behind NAT it
// cannot know the address the world sees; asking an outside service ("what is
// my IP") would leak and depend on a third party, so nothing is guessed.
// Which zones: the IP zones of policies/dnsbl.toml with a weight >= 0 (a
// listing on an allow list, weight < 0, is good news, not a problem); RHSBL
// zones are about names, not our address. Lookups go through the checker, so
// its cache, return-code filters, access keys and zone health apply (and they
// count in the zone's query statistics like any client's).
// A timeout, SERVFAIL, error code or suspended zone is "unknown", never
// "listed": only a definite answer raises or clears a listing (and logs it).
import type { DnsblPolicy } from '../../config/dnsbl-file.ts';
import type { Logger } from '../../log/logger.ts';
import type { ZoneResult } from '../../policy/dnsbl-rule.ts';
import type { DnsblChecker } from './dnsbl-checker.ts';

export type SelfCheckState = 'listed' | 'clean' | 'unknown';

export interface SelfCheckEntry {
  readonly address: string;
  /** The zone's display name (never its access key). */
  readonly zone: string;
  readonly state: SelfCheckState;
  /** listed: the return codes that matched the zone's filter. */
  readonly codes?: readonly string[];
  /** listed: the zone's TXT text (or configured text). */
  readonly text?: string;
  /** unknown: why (timeout, servfail, suspended, error_code, ...). */
  readonly problem?: string;
  readonly checkedAt: number;
  /** The last definite answer (listed or clean); absent before the first one. */
  readonly lastKnown?: 'listed' | 'clean';
  /** Epoch ms of the first answer of the listing in progress, while lastKnown is listed. */
  readonly listedSince?: number;
}

export interface SelfCheckSettings {
  readonly addresses: readonly string[];
  /** ms between runs; 0 = off. */
  readonly interval: number;
}

export interface SelfCheckStatus {
  /** true while addresses are listed and interval > 0. */
  readonly enabled: boolean;
  readonly addresses: readonly string[];
  readonly intervalMs: number;
  /** Epoch ms when the last run finished; null before the first. */
  readonly lastRunAt: number | null;
  readonly results: readonly SelfCheckEntry[];
}

export interface SelfCheckChange {
  readonly kind: 'listed' | 'cleared';
  readonly entry: SelfCheckEntry;
}

/** PURE. The entries of one run from its answers, and the listings that appeared or cleared since `previous`. */
export function nextEntries(
  previous: readonly SelfCheckEntry[],
  answers: ReadonlyArray<{ readonly address: string; readonly result: ZoneResult }>,
  at: number,
): { readonly entries: SelfCheckEntry[]; readonly changes: SelfCheckChange[] } {
  const before = new Map(previous.map((e) => [`${e.address}\u0000${e.zone}`, e]));
  const entries: SelfCheckEntry[] = [];
  const changes: SelfCheckChange[] = [];
  for (const { address, result } of answers) {
    if (result.kind !== 'ip' || result.weight < 0) continue;
    // An IPv6 address and an IPv4-only zone: nothing to ask, nothing unknown.
    if (result.status === 'skipped' && result.problem === 'ipv4_only_zone') continue;
    const old = before.get(`${address}\u0000${result.zone}`);
    let entry: SelfCheckEntry;
    if (result.status === 'listed') {
      entry = {
        address, zone: result.zone, state: 'listed', checkedAt: at, lastKnown: 'listed',
        listedSince: old?.lastKnown === 'listed' && old.listedSince !== undefined ? old.listedSince : at,
        ...(result.codes ? { codes: result.codes } : {}),
        ...(result.text ? { text: result.text } : {}),
      };
      if (old?.lastKnown !== 'listed') changes.push({ kind: 'listed', entry });
    } else if (result.status === 'clean') {
      entry = { address, zone: result.zone, state: 'clean', checkedAt: at, lastKnown: 'clean' };
      if (old?.lastKnown === 'listed') changes.push({ kind: 'cleared', entry });
    } else {
      entry = {
        address, zone: result.zone, state: 'unknown', checkedAt: at, problem: result.problem ?? result.status,
        ...(old?.lastKnown ? { lastKnown: old.lastKnown } : {}),
        ...(old?.listedSince !== undefined && old.lastKnown === 'listed' ? { listedSince: old.listedSince } : {}),
      };
    }
    entries.push(entry);
  }
  return { entries, changes };
}

/** PURE. The zones a self-check asks (IP zones, weight >= 0), by display name. */
export function selfCheckZones(policy: DnsblPolicy): string[] {
  return policy.zones.filter((zone) => zone.kind === 'ip' && zone.weight >= 0).map((zone) => zone.name);
}

/** PURE. A warning when addresses are listed but no zone would be asked (`relayguard check`, serve at start and reload). */
export function selfCheckWarning(settings: SelfCheckSettings, policy: DnsblPolicy): string | undefined {
  if (!enabled(settings) || selfCheckZones(policy).length > 0) return undefined;
  return '[self_check] addresses are set, but policies/dnsbl.toml has no IP zone with a weight >= 0 to look them up in: the self-check asks nothing';
}

export interface SelfCheckOptions {
  /** The live checker (its policy follows reloads). */
  readonly checker: () => DnsblChecker;
  /** Read at every run, so a reload applies. */
  readonly settings: () => SelfCheckSettings;
  readonly logger: Logger;
  readonly now?: () => number;
}

export class SelfCheck {
  readonly #options: SelfCheckOptions;
  readonly #now: () => number;
  #entries: SelfCheckEntry[] = [];
  #lastRunAt: number | null = null;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<readonly SelfCheckChange[]> | undefined;
  #started = false;
  #scheduled: string | undefined;

  constructor(options: SelfCheckOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** One run over every address and zone now (a run in progress is joined, not doubled). */
  runOnce(): Promise<readonly SelfCheckChange[]> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #run(): Promise<readonly SelfCheckChange[]> {
    const { addresses } = this.#options.settings();
    const checker = this.#options.checker();
    const answers = (await Promise.all(addresses.map(async (address) => (await checker.check(address)).results.map((result) => ({ address, result }))))).flat();
    const at = this.#now();
    const { entries, changes } = nextEntries(this.#entries, answers, at);
    this.#entries = entries;
    this.#lastRunAt = at;
    const log = this.#options.logger;
    for (const { kind, entry } of changes) {
      const fields = { event: `self_check.${kind}`, address: entry.address, zone: entry.zone, ...(entry.codes ? { codes: entry.codes } : {}), ...(entry.text ? { text: entry.text } : {}) };
      if (kind === 'listed') log.warn(fields, `our outbound address ${entry.address} is listed at ${entry.zone}`);
      else log.info(fields, `our outbound address ${entry.address} is no longer listed at ${entry.zone}`);
    }
    for (const entry of entries) {
      if (entry.state === 'unknown') log.debug({ event: 'self_check.unknown', address: entry.address, zone: entry.zone, problem: entry.problem }, 'self-check lookup gave no answer');
    }
    return changes;
  }

  /** Runs now and then every interval, while enabled; see update(). */
  start(): void {
    this.#started = true;
    this.update();
  }

  /** After a reload: reschedules (and runs now) when the addresses or the interval changed. */
  update(): void {
    if (!this.#started) return;
    const settings = this.#options.settings();
    const key = JSON.stringify(settings);
    if (key === this.#scheduled) return;
    this.#scheduled = key;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!enabled(settings)) {
      this.#entries = [];
      this.#options.logger.info({ event: 'self_check.off' }, settings.addresses.length === 0
        ? 'DNSBL self-check off: no [self_check] addresses (relayguard cannot learn its public address; list it)'
        : 'DNSBL self-check off: self_check.interval = 0');
      return;
    }
    const warning = selfCheckWarning(settings, this.#options.checker().policy);
    if (warning) this.#options.logger.warn({ event: 'self_check.no_zones' }, warning);
    const tick = (): void => {
      // A run of the previous settings still in flight finishes first; this one then asks about the new ones.
      void (this.#running ?? Promise.resolve())
        .catch(() => undefined)
        .then(() => this.runOnce())
        .catch((error: unknown) => this.#options.logger.warn({ event: 'self_check.failed', err: error }, 'DNSBL self-check failed'))
        .finally(() => {
          if (this.#scheduled !== key) return;
          this.#timer = setTimeout(tick, settings.interval);
          this.#timer.unref();
        });
    };
    tick();
  }

  status(): SelfCheckStatus {
    const settings = this.#options.settings();
    return { enabled: enabled(settings), addresses: settings.addresses, intervalMs: settings.interval, lastRunAt: this.#lastRunAt, results: this.#entries };
  }

  close(): void {
    this.#started = false;
    this.#scheduled = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

function enabled(settings: SelfCheckSettings): boolean {
  return settings.addresses.length > 0 && settings.interval > 0;
}

// policies/dnsbl.toml -> DnsblPolicy. Pure: parseDnsblFile(file, text) returns
// the policy or every problem as file:line. The policy is immutable and holds
// compiled return-code filters, so checks parse nothing.
import { parseTomlWith } from './load-config.ts';
import { locateTomlPath } from './toml-locate.ts';
import type { FileProblem, ParseResult } from './errors.ts';
import { dnsblSchema, type RawZone } from './dnsbl-schema.ts';
import type { ReturnCodeFilter } from './return-codes.ts';

export type ZoneKind = 'ip' | 'domain';
/** What an RHSBL (domain) zone is asked about. */
export type DomainTarget = 'sender' | 'helo';
export type OnError = 'ignore' | 'defer';

export interface DnsblZone {
  /** Shown in replies, logs, metrics and the dashboard. Defaults to `zone`. */
  readonly name: string;
  /** The DNS zone queried (without the key). */
  readonly zone: string;
  /** Secret access key placed before the zone (<subject>.<key>.<zone>); never shown. */
  readonly key?: string;
  readonly kind: ZoneKind;
  /** Added to the score when listed; negative for allow lists (DNSWL); 0 = observe only. */
  readonly weight: number;
  readonly filter: ReturnCodeFilter;
  /** IP zones only: also query IPv6 clients (by nibbles). */
  readonly ipv6: boolean;
  /** Domain zones only. */
  readonly targets: readonly DomainTarget[];
  /** A lookup that cannot be answered: ignore it (not listed) or defer the client. */
  readonly onError: OnError;
  /** Fetch the TXT record when listed (for the reply text). */
  readonly txt: boolean;
  /** The zone lists the RFC 5782 test entry (127.0.0.2 / TEST); health probes expect it. */
  readonly testEntry: boolean;
  /** Reply text template: {ip}, {domain}, {zone}, {txt}. Default: the TXT record. */
  readonly reply?: string;
  /** Line of the [[zones]] table, for messages. */
  readonly line: number;
}

export interface DnsblCacheSettings {
  readonly maxEntries: number;
  readonly negativeTtl: number;
  readonly minTtl: number;
  readonly maxTtl: number;
}

export interface DnsblHealthSettings {
  /** Probe healthy zones this often; 0 = only at start. */
  readonly probeInterval: number;
  readonly suspendedProbeInterval: number;
  readonly failuresToSuspend: number;
  readonly healthyProbesToResume: number;
  readonly hitRateWindow: number;
  readonly hitRateMinSamples: number;
  readonly maxHitRate: number;
}

export interface DnsblPolicy {
  /** Enabled zones, in file order. */
  readonly zones: readonly DnsblZone[];
  /** A client whose score reaches this is refused. */
  readonly threshold: number;
  /** Look up private, loopback and link-local clients too (labs and tests). */
  readonly checkPrivateClients: boolean;
  readonly cache: DnsblCacheSettings;
  readonly health: DnsblHealthSettings;
}

const PLACEHOLDERS = new Set(['ip', 'domain', 'zone', 'txt']);

// A long label of mixed letters and digits is what DQS/Abusix keys look like.
const looksLikeKey = (label: string): boolean => label.length >= 20 && /^[a-z0-9]+$/.test(label) && /\d/.test(label) && /[a-z]/.test(label);

function zoneProblems(raw: RawZone, at: (...path: (string | number)[]) => number, file: string): FileProblem[] {
  const problems: FileProblem[] = [];
  const add = (message: string, ...path: (string | number)[]): void => void problems.push({ file, line: at(...path), message });
  if (!raw.name && raw.zone.split('.').some(looksLikeKey)) {
    add(`zone: "${raw.zone}" seems to contain an access key; move it to key = "..." (or set name) so replies and logs never show it`, 'zone');
  }
  if (raw.kind === 'domain' && raw.ipv6) add('ipv6 applies to ip zones only', 'ipv6');
  for (const match of (raw.reply ?? '').matchAll(/\{([^}]*)\}/g)) {
    if (!PLACEHOLDERS.has(match[1] as string)) add(`reply: unknown placeholder {${match[1]}} (use {ip}, {domain}, {zone}, {txt})`, 'reply');
  }
  return problems;
}

export function parseDnsblFile(file: string, text: string): ParseResult<DnsblPolicy> {
  const parsed = parseTomlWith(file, text, dnsblSchema);
  if (!parsed.ok) return parsed;
  const raw = parsed.value;
  const problems: FileProblem[] = [];
  const seen = new Map<string, number>();
  const zones: DnsblZone[] = [];
  raw.zones.forEach((zone, index) => {
    const at = (...path: (string | number)[]): number => locateTomlPath(text, ['zones', index, ...path]);
    problems.push(...zoneProblems(zone, at, file));
    const name = zone.name ?? zone.zone;
    const line = at();
    const previous = seen.get(name);
    if (previous !== undefined) problems.push({ file, line, message: `zones: "${name}" is already defined on line ${previous}; give one a different name` });
    seen.set(name, line);
    if (!zone.enabled) return;
    const filter: ReturnCodeFilter =
      zone.bitmask === undefined
        ? { include: zone.codes, exclude: zone.exclude_codes }
        : { include: zone.codes, exclude: zone.exclude_codes, bitmask: zone.bitmask };
    zones.push({
      name,
      zone: zone.zone,
      ...(zone.key ? { key: zone.key } : {}),
      kind: zone.kind,
      weight: zone.weight,
      filter,
      ipv6: zone.ipv6,
      targets: zone.check,
      onError: zone.on_error,
      txt: zone.txt,
      testEntry: zone.test_entry,
      ...(zone.reply !== undefined ? { reply: zone.reply } : {}),
      line,
    });
  });
  const { cache, health } = raw;
  if (cache.min_ttl > cache.max_ttl) {
    problems.push({ file, line: locateTomlPath(text, ['cache', 'min_ttl']), message: 'cache.min_ttl is above cache.max_ttl' });
  }
  if (health.hit_rate_min_samples > health.hit_rate_window) {
    problems.push({
      file,
      line: locateTomlPath(text, ['health', 'hit_rate_min_samples']),
      message: 'health.hit_rate_min_samples is above health.hit_rate_window',
    });
  }
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    value: {
      zones,
      threshold: raw.threshold,
      checkPrivateClients: raw.check_private_clients,
      cache: { maxEntries: cache.max_entries, negativeTtl: cache.negative_ttl, minTtl: cache.min_ttl, maxTtl: cache.max_ttl },
      health: {
        probeInterval: health.probe_interval,
        suspendedProbeInterval: health.suspended_probe_interval,
        failuresToSuspend: health.failures_to_suspend,
        healthyProbesToResume: health.healthy_probes_to_resume,
        hitRateWindow: health.hit_rate_window,
        hitRateMinSamples: health.hit_rate_min_samples,
        maxHitRate: health.max_hit_rate,
      },
    },
  };
}

/** The policy when policies/dnsbl.toml is absent: no zones, defaults everywhere. */
export function defaultDnsblPolicy(): DnsblPolicy {
  const result = parseDnsblFile('dnsbl.toml', '');
  if (!result.ok) throw new Error('the empty dnsbl.toml must parse');
  return result.value;
}

// The RFC 5782 health probe of one zone, asked directly (never via the cache):
//   IP zones:     127.0.0.2 must be listed, 127.0.0.1 must not be.
//   domain zones: TEST must be listed, INVALID must not be.
// "Listed" here means any answer in 127.0.0.0/8 outside the error range:
// the probe asks whether the zone is alive and sane, not what its codes mean.
// Zones without test entries (test_entry = false) get only the second half.
// IPv6-capable zones are probed over IPv4 only; that answers "is it alive".
import { classifyDnsError } from '../../net/dns-resolver.ts';
import type { DnsblResolver } from './dnsbl-cache.ts';
import type { DnsblZone } from '../../config/dnsbl-file.ts';
import { buildQueryName } from './query-name.ts';
import { classifyAnswers, type ReturnCodeFilter } from '../../config/return-codes.ts';
import type { HealthProblem, ProbeResult } from './zone-health.ts';

type Probed = { readonly kind: 'listed' } | { readonly kind: 'absent' } | { readonly kind: 'problem'; readonly problem: HealthProblem; readonly temporary: boolean };

// Every answer in 127/8 outside the error range counts for the probe.
const ANY_LOOPBACK: ReturnCodeFilter = { include: [{ from: 0x7f000000, to: 0x7ffffeff }], exclude: [] };

async function ask(resolver: DnsblResolver, name: string): Promise<Probed> {
  try {
    const records = await resolver.resolve4(name, { ttl: true });
    const sorted = classifyAnswers(ANY_LOOPBACK, records.map((record) => record.address));
    if (sorted.problem) return { kind: 'problem', problem: sorted.problem, temporary: false };
    return sorted.listed.length > 0 ? { kind: 'listed' } : { kind: 'absent' };
  } catch (error) {
    const why = classifyDnsError(error);
    if (why === 'nxdomain' || why === 'nodata') return { kind: 'absent' };
    const problem: HealthProblem = why === 'timeout' || why === 'servfail' || why === 'refused' ? why : 'failure';
    return { kind: 'problem', problem, temporary: true };
  }
}

/** Probe names for a zone: [must be listed (or null), must not be listed]. */
export function probeNames(zone: DnsblZone): [string | null, string] {
  const [listed, absent] = zone.kind === 'ip' ? ['2.0.0.127', '1.0.0.127'] : ['test', 'invalid'];
  return [zone.testEntry ? buildQueryName(listed, zone.zone, zone.key) : null, buildQueryName(absent, zone.zone, zone.key) as string];
}

export async function probeZone(zone: DnsblZone, resolver: DnsblResolver): Promise<ProbeResult> {
  const [listedName, absentName] = probeNames(zone);
  const [listed, absent] = await Promise.all([listedName ? ask(resolver, listedName) : Promise.resolve(null), ask(resolver, absentName)]);
  // Definite problems first: they say more than a lost packet does.
  for (const probed of [listed, absent]) {
    if (probed?.kind === 'problem' && !probed.temporary) return { ok: false, problem: probed.problem };
  }
  if (absent.kind === 'listed') return { ok: false, problem: 'lists_everything' };
  for (const probed of [listed, absent]) {
    if (probed?.kind === 'problem') return { ok: false, problem: probed.problem, temporary: true };
  }
  if (listed?.kind === 'absent') return { ok: false, problem: 'test_entry_missing' };
  return { ok: true };
}

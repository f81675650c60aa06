// PURE. The DNSBL / RHSBL decision, taken at RCPT from the answers gathered
// since connect (facts/dnsbl). Score = sum of the weights of the zones that
// list the client, its HELO name or its sender domain; each zone counts once,
// however many of its answers or subjects matched. Allow lists (DNSWL) have a
// negative weight: they lower the score and never permit anything, so they
// can never open the relay.
//
// Lookups that failed (timeout, SERVFAIL) count as not listed (fail-open),
// except in zones with on_error = "defer": those make the result uncertain.
// The rule refuses only what is certain and defers only what a retry could
// change:
//   lowest possible score  >= threshold -> reject 554 5.7.1 (dnsbl.listed / rhsbl.listed)
//   highest possible score >= threshold -> defer  451 4.7.1 (dnsbl.temp_fail)
//   otherwise                           -> dunno
// Zone problems (127.255.255.x, answers outside 127/8) and suspended zones
// never list and never defer: they say nothing about the client.
// The caller skips this rule for trusted (relay networks, allowlist) and
// authenticated clients; see facts/dnsbl/dnsbl-checker.ts.
import { replyFor } from './replies.ts';
import { defer, dunno, reject, type Decision, type DetailValue, type Stage } from './decision.ts';

export type ZoneStatus = 'listed' | 'clean' | 'failed' | 'zone_problem' | 'suspended' | 'skipped';

/** One zone asked about one subject (the client IP, the HELO name or the sender domain). */
export interface ZoneResult {
  /** The zone's display name: safe to show clients (never holds a query key). */
  readonly zone: string;
  readonly kind: 'ip' | 'domain';
  readonly target: 'client' | 'helo' | 'sender';
  /** The IP or domain asked about (without zone or key). */
  readonly subject: string;
  readonly weight: number;
  readonly onError: 'ignore' | 'defer';
  readonly status: ZoneStatus;
  /** Answers that listed (status listed) or made the zone problem (status zone_problem). */
  readonly codes?: readonly string[];
  /** failed: timeout | servfail | ...; zone_problem: error_code | outside_127; skipped / suspended: why. */
  readonly problem?: string;
  /** Reply text for a listing (TXT record or configured text), already made safe. */
  readonly text?: string;
  /** Answered from the cache or by a query another check had already sent. */
  readonly cached?: boolean;
}

export interface DnsblFacts {
  /** As looked up (IPv4-mapped IPv6 shown as IPv4). */
  readonly clientIp: string;
  readonly results: readonly ZoneResult[];
}

export interface DnsblRulePolicy {
  readonly threshold: number;
}

export const DNSBL_RULE = 'dnsbl';

export interface ZoneVerdict {
  readonly zone: string;
  readonly kind: 'ip' | 'domain';
  readonly weight: number;
  readonly results: readonly ZoneResult[];
}

export interface DnsblScore {
  /** Score from the zones that answered "listed". */
  readonly score: number;
  /** Lowest / highest score the uncertain (failed, on_error = defer) zones allow. */
  readonly min: number;
  readonly max: number;
  readonly listed: readonly ZoneVerdict[];
  readonly uncertain: readonly ZoneVerdict[];
  readonly failed: readonly ZoneVerdict[];
}

/** Groups results by zone and adds up the weights; exported for `relayguard explain`. */
export function scoreDnsbl(facts: DnsblFacts): DnsblScore {
  const byZone = new Map<string, ZoneResult[]>();
  for (const result of facts.results) {
    const list = byZone.get(result.zone);
    if (list) list.push(result);
    else byZone.set(result.zone, [result]);
  }
  const listed: ZoneVerdict[] = [];
  const uncertain: ZoneVerdict[] = [];
  const failed: ZoneVerdict[] = [];
  for (const [zone, results] of byZone) {
    const first = results[0] as ZoneResult;
    const hits = results.filter((result) => result.status === 'listed');
    if (hits.length > 0) {
      listed.push({ zone, kind: first.kind, weight: first.weight, results: hits });
      continue;
    }
    const failures = results.filter((result) => result.status === 'failed');
    if (failures.length === 0) continue;
    const verdict = { zone, kind: first.kind, weight: first.weight, results: failures };
    failed.push(verdict);
    if (first.onError === 'defer') uncertain.push(verdict);
  }
  const score = listed.reduce((sum, zone) => sum + zone.weight, 0);
  const min = score + uncertain.reduce((sum, zone) => sum + Math.min(0, zone.weight), 0);
  const max = score + uncertain.reduce((sum, zone) => sum + Math.max(0, zone.weight), 0);
  return { score, min, max, listed, uncertain, failed };
}

// Replies stay well inside the 512-octet SMTP reply line.
const MAX_TEXT = 400;

function names(zones: readonly ZoneVerdict[]): string {
  return zones.map((zone) => zone.zone).join(', ');
}

export function evaluateDnsbl(facts: DnsblFacts, policy: DnsblRulePolicy, stage: Stage = 'rcpt'): Decision {
  const scored = scoreDnsbl(facts);
  const blocking = scored.listed.filter((zone) => zone.weight > 0).sort((a, b) => b.weight - a.weight);
  const detail: Record<string, DetailValue> = { score: scored.score, threshold: policy.threshold };
  if (scored.listed.length > 0) {
    detail.listed = scored.listed
      .map((zone) => `${zone.zone}(${zone.results.map((r) => `${r.target === 'client' ? '' : `${r.target} ${r.subject} `}${(r.codes ?? []).join('|')}`).join(';')})`)
      .join(' ');
  }
  if (scored.failed.length > 0) detail.failed = scored.failed.map((zone) => `${zone.zone}(${zone.results[0]?.problem ?? 'failed'})`).join(' ');
  const client = `client [${facts.clientIp}]`;

  if (scored.min >= policy.threshold && blocking.length > 0) {
    let text = `Service unavailable; ${client} blocked using ${names(blocking)}`;
    const extra = blocking.flatMap((zone) => zone.results).find((result) => result.text)?.text;
    if (extra && text.length + extra.length + 2 <= MAX_TEXT) text += `; ${extra}`;
    const reason = blocking.some((zone) => zone.kind === 'ip') ? 'dnsbl.listed' : 'rhsbl.listed';
    return reject(stage, DNSBL_RULE, reason, replyFor(reason, text.slice(0, MAX_TEXT)), detail);
  }
  if (scored.max >= policy.threshold && scored.uncertain.length > 0) {
    const text = `Service temporarily unavailable; ${client} could not be checked against ${names(scored.uncertain)}; try again later`;
    return defer(stage, DNSBL_RULE, 'dnsbl.temp_fail', replyFor('dnsbl.temp_fail', text.slice(0, MAX_TEXT)), detail);
  }
  return scored.listed.length > 0 || scored.failed.length > 0 ? { ...dunno(stage, DNSBL_RULE), detail } : dunno(stage, DNSBL_RULE);
}

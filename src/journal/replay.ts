// Replays recorded sessions (the decision journal) through the one session
// driver under a candidate policy, with the recorded facts only: no DNS, no
// live counters. What the candidate asks that was never recorded is
// "unknown", counted and reported, never guessed:
//   DNSBL   the recorded answer per (zone name, subject) is reused with the
//           candidate's weight and on_error; a candidate zone (or a client
//           newly untrusted) with no recorded answer is unknown, and counts as
//           not listed.
//   limits  the recorded count per (scope, window length) is compared with the
//           candidate's limits; a window the journal has no count for is
//           unknown (not exceeded).
//   sender domain, credentials: the recorded outcome; AUTH that succeeded for
//           a user the candidate no longer has fails.
// Policy-service sessions (a Postfix asking, `src`) replay the same way, as a
// listener of the recorded role that counts no open connections (as live),
// with the user Postfix authenticated taken as given at MAIL.
// The result is compared call by call with what was recorded: newly refused,
// newly accepted, refused otherwise; and separately, any recipient the
// candidate newly lets an unauthenticated client relay to.
import type { Decision, Stage } from '../policy/decision.ts';
import type { Facts, RateExceeded, ConnectionFacts } from '../policy/facts.ts';
import type { RcptContext, SessionContext } from '../policy/context.ts';
import type { ZoneResult } from '../policy/dnsbl-rule.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';
import type { ListenerConfig } from '../config/schema.ts';
import { inRelayNetworks, isAllowlisted } from '../config/trust.ts';
import { specialUseDomain } from '../net/special-use.ts';
import { connectionExceeded, named, rateExceeded, userWindows, type ApplicableWindow, type CountedKind, type CountedWindow } from '../facts/limits/compare-limits.ts';
import type { FactsProvider } from '../facts/session-facts.ts';
import { silentLogger } from '../log/logger.ts';
import { createSessionDriver, type CredentialChecker } from '../session/session-driver.ts';
import type { SessionRecord } from '../session/session-record.ts';
import { walkCalls, type ReplayCall, type ReplayedCall } from '../session/session-script.ts';
import type { JournalDecision, JournalFacts, JournalRecord, JournalStep, JournalZone } from './journal-record.ts';
import { probeTarget } from '../facts/recipient-probe/recipient-probe-provider.ts';
import { verificationRoute } from '../delivery/verification-route.ts';
import type { DnsblPolicy } from '../config/dnsbl-file.ts';

export type ChangeKind = 'newly_refused' | 'newly_accepted' | 'refused_otherwise';

export interface ReplayExample {
  readonly session: string;
  readonly at: number;
  readonly client: string;
  readonly listener: string;
  /** "policy service" when a Postfix asked (the record's `src`). */
  readonly source?: string;
  readonly user?: string;
  readonly call: string;
  readonly input: string;
  /** "reject rcpt relay-networks relay.denied" */
  readonly before: string;
  readonly after: string;
}

export interface ReplayGroup {
  readonly kind: ChangeKind;
  readonly stage: Stage;
  readonly rule: string;
  readonly reason: string;
  count: number;
  readonly examples: ReplayExample[];
}

export interface ReplaySummary {
  sessions: number;
  calls: number;
  changedSessions: number;
  changes: number;
  groups: ReplayGroup[];
  /** Recipients an unauthenticated client is newly allowed to relay to. */
  relayOpenings: { count: number; examples: ReplayExample[] };
  /** What the candidate asked that the journal did not hold. */
  unknown: { sessions: number; dnsblZones: Record<string, number>; rateWindows: number; senderDomain: number; recipientVerification: number };
}

export interface CallComparison {
  readonly call: JournalStep;
  readonly recorded: readonly JournalDecision[];
  readonly replayed: ReplayedCall;
}

export interface SessionReplay {
  readonly record: JournalRecord;
  readonly calls: readonly CallComparison[];
  readonly unknown: readonly string[];
}

const EXAMPLES = 3;

const refusedVerdict = (verdict: string): boolean => verdict === 'reject' || verdict === 'defer';

export function describeRecorded(d: JournalDecision | undefined): string {
  return d ? `${d[0]} ${d[1]} ${d[2]} ${d[3]}` : 'not reached';
}

export function describeDecision(d: Decision | undefined): string {
  return d ? `${d.verdict} ${d.stage} ${d.rule} ${d.reason}` : 'not reached';
}

function callsOf(record: JournalRecord): ReplayCall[] {
  const calls: ReplayCall[] = [];
  for (const step of record.s) {
    const call: { -readonly [K in keyof ReplayCall]: ReplayCall[K] } = { call: step.c };
    if (step.i !== undefined) call.input = step.i;
    if (step.m !== undefined) call.mechanism = step.m;
    if (step.p !== undefined) call.params = step.p;
    if (step.tls !== undefined) call.tls = step.tls;
    if (step.h !== undefined) call.helo = step.h;
    if (step.e !== undefined) call.esmtp = step.e;
    if (step.u !== undefined) call.user = step.u;
    if (step.f?.ms !== undefined) call.message = step.f.ms;
    calls.push(call);
  }
  return calls;
}

/** The facts a recorded call gives under the candidate (see the header). */
class RecordedFacts {
  record: JournalRecord | undefined;
  step: JournalStep | undefined;
  readonly unknown = new Set<string>();
  // Trust depends on the client IP only (config/trust.ts): asked once per session, not per call.
  #trustIp: string | undefined;
  #trusted = false;

  #isTrusted(ctx: SessionContext, snapshot: PolicySnapshot): boolean {
    if (ctx.clientIp !== this.#trustIp) {
      this.#trustIp = ctx.clientIp;
      this.#trusted = inRelayNetworks(ctx, snapshot) || isAllowlisted(ctx, snapshot);
    }
    return this.#trusted;
  }

  /** Forgets the per-session cache (the snapshot is the Replayer's, fixed). */
  reset(record: JournalRecord): void {
    this.record = record;
    this.unknown.clear();
    this.#trustIp = undefined;
  }

  factsFor(stage: Stage, ctx: SessionContext, snapshot: PolicySnapshot): Facts {
    const step = this.step;
    if (!step?.f) return stage === 'rcpt' ? this.#rcptWithoutFacts(ctx, snapshot) : {};
    const f = step.f;
    const out: { -readonly [K in keyof Facts]: Facts[K] } = {};
    if (stage === 'connect') {
      if (f.cn) out.connection = this.#connection(f.cn, this.#isTrusted(ctx, snapshot), snapshot);
    } else if (stage === 'mail') {
      if (f.rt) out.rate = this.#rate('messages', f.rt, this.#isTrusted(ctx, snapshot), ctx, snapshot);
      const sd = this.#senderDomain(f.sd, ctx, snapshot);
      if (sd) out.senderDomain = sd;
    } else if (stage === 'rcpt') {
      if (f.rt) out.rate = this.#rate('recipients', f.rt, this.#isTrusted(ctx, snapshot), ctx, snapshot);
      const dnsbl = this.#dnsbl(ctx, snapshot).dnsbl;
      if (dnsbl) out.dnsbl = dnsbl;
      const probe = this.#recipientProbe(f.rp, ctx, snapshot);
      if (probe) out.recipientProbe = probe;
    }
    return out;
  }

  #rcptWithoutFacts(ctx: SessionContext, snapshot: PolicySnapshot): Facts {
    const facts = this.#dnsbl(ctx, snapshot);
    const probe = this.#recipientProbe(undefined, ctx, snapshot);
    return probe ? { ...facts, recipientProbe: probe } : facts;
  }

  /**
   * The recorded answer of the next hop, where the candidate would verify
   * this recipient live (the same selection as the live provider). A
   * recipient the candidate would verify but that was not verified when it
   * was recorded is unknown: never guessed, not applied.
   */
  #recipientProbe(rp: JournalFacts['rp'], ctx: SessionContext, snapshot: PolicySnapshot): Facts['recipientProbe'] {
    if (!snapshot.config.recipient_verification.enabled) return undefined;
    const rcpt = ctx as RcptContext;
    if (rcpt.recipient === undefined) return undefined;
    const hop = probeTarget(rcpt, snapshot, verificationRoute);
    if (hop === undefined) return undefined;
    if (rp === undefined) {
      this.unknown.add('recipient verification');
      return undefined;
    }
    return { outcome: rp[0], hop: hop.label, source: 'cache', ...(rp[1] !== undefined ? { reply: rp[1] } : {}) };
  }

  #connection(cn: NonNullable<NonNullable<JournalStep['f']>['cn']>, trusted: boolean, snapshot: PolicySnapshot): ConnectionFacts {
    if (cn.u) return { unavailable: true };
    if (!cn.c) return {};
    const ipRates: Array<{ window: ApplicableWindow['window']; count: number }> = [];
    if (!trusted) {
      for (const window of snapshot.limits.ip.connections) {
        const count = cn.c.ipRates?.find((r) => r.windowMs === window.windowMs)?.count;
        if (count === undefined) this.unknown.add(`rate ip.connections ${window.text}`);
        else ipRates.push({ window, count });
      }
      // A policy-service session is never counted as open (live or here): nothing unknown about it.
      if (cn.c.ip === undefined && snapshot.limits.ip.maxConnections > 0 && this.record?.src === undefined) this.unknown.add('count ip connections');
    }
    const exceeded = connectionExceeded({ global: cn.c.global, ...(!trusted && cn.c.ip !== undefined ? { ip: cn.c.ip } : {}), ipRates }, snapshot.limits);
    return exceeded ? { exceeded } : {};
  }

  /** The recorded counts of the windows that apply, in the order the rate provider checks them. */
  #count(counted: CountedWindow[], windows: readonly ApplicableWindow[], rt: NonNullable<NonNullable<JournalStep['f']>['rt']>): void {
    for (const window of windows) {
      let count: number | undefined;
      for (const c of rt.c) {
        if (c[0] === window.scope && c[2] === window.window.windowMs) {
          count = c[3];
          break;
        }
      }
      if (count === undefined) this.unknown.add(`rate ${window.name} ${window.window.text}`);
      else counted.push({ ...window, count });
    }
  }

  #rate(kind: CountedKind, rt: NonNullable<NonNullable<JournalStep['f']>['rt']>, trusted: boolean, ctx: SessionContext, snapshot: PolicySnapshot): Facts['rate'] {
    if (rt.u) return { exceeded: [], unavailable: true };
    const { limits } = snapshot;
    const counted: CountedWindow[] = [];
    if (!trusted && ctx.user === undefined && limits.ip[kind].length > 0) this.#count(counted, named('ip', `ip.${kind}`, limits.ip[kind]), rt);
    if (ctx.user !== undefined) this.#count(counted, userWindows(kind, snapshot.users.get(ctx.user)?.quota, limits), rt);
    if (!trusted && ctx.sender?.kind === 'mailbox' && limits.senderDomain[kind].length > 0) this.#count(counted, named('sender_domain', `sender_domain.${kind}`, limits.senderDomain[kind]), rt);
    const exceeded: RateExceeded[] = counted.length > 0 ? rateExceeded(counted) : [];
    return { exceeded };
  }

  #senderDomain(sd: string | undefined, ctx: SessionContext, snapshot: PolicySnapshot): Facts['senderDomain'] {
    const settings = snapshot.checks.senderDomain;
    if (!settings.enabled || ctx.sender?.kind !== 'mailbox' || ctx.sender.literal !== undefined) return undefined;
    if (ctx.user !== undefined || this.#isTrusted(ctx, snapshot)) return undefined;
    if (specialUseDomain(ctx.sender.domain) !== undefined || snapshot.localDomains.has(ctx.sender.domain)) return undefined;
    if (sd === undefined) {
      this.unknown.add('sender domain');
      return undefined;
    }
    return { status: sd as 'ok' | 'nxdomain' | 'null_mx' | 'temp_fail' };
  }

  #dnsbl(ctx: SessionContext, snapshot: PolicySnapshot): Facts {
    const zones = snapshot.dnsbl.zones;
    if (zones.length === 0 || ctx.user !== undefined) return {};
    if (this.#isTrusted(ctx, snapshot)) return {};
    // The answers are the session's (`dn`), as the RCPT stage saw them.
    const recorded = this.record?.dn ?? [];
    const results: ZoneResult[] = [];
    const sender = ctx.sender?.kind === 'mailbox' ? ctx.sender.domain : undefined;
    for (const zone of zones) {
      if (zone.kind === 'ip') this.#zone(results, recorded, zone, 'client', ctx.clientIp);
      else {
        for (const target of zone.targets) {
          const subject = target === 'helo' ? ctx.helo : sender;
          if (subject !== undefined) this.#zone(results, recorded, zone, target, subject);
        }
      }
    }
    return { dnsbl: { clientIp: ctx.clientIp, results } };
  }

  #zone(results: ZoneResult[], recorded: readonly JournalZone[], zone: DnsblPolicy['zones'][number], target: 'client' | 'helo' | 'sender', subject: string): void {
    let hit: JournalZone | undefined;
    for (const r of recorded) {
      if (r[0] === zone.name && r[1] === target) {
        hit = r;
        break;
      }
    }
    if (!hit) {
      this.unknown.add(`dnsbl ${zone.name}`);
      results.push({ zone: zone.name, kind: zone.kind, target, subject, weight: zone.weight, onError: zone.onError, status: 'skipped', problem: 'not recorded' });
      return;
    }
    const [, , status, codes, problem] = hit;
    // One literal per shape (no spreads: this runs per zone per recipient per session).
    const result: { -readonly [K in keyof ZoneResult]: ZoneResult[K] } = { zone: zone.name, kind: zone.kind, target, subject, weight: zone.weight, onError: zone.onError, status };
    if (codes && codes.length > 0) result.codes = codes;
    if (problem !== undefined) result.problem = problem;
    results.push(result);
  }
}

/** Replays journal records under one policy; reuse it for many records. */
export class Replayer {
  readonly #snapshot: PolicySnapshot;
  readonly #facts = new RecordedFacts();
  readonly #driver;
  readonly #listeners: Map<string, SessionRecord['listener']>;

  constructor(snapshot: PolicySnapshot) {
    this.#snapshot = snapshot;
    const facts = this.#facts;
    const provider: FactsProvider = {
      name: 'journal',
      open: (_ctx, policy) => ({ gather: async (stage, ctx) => facts.factsFor(stage, ctx, policy), close: () => undefined }),
    };
    const credentials: CredentialChecker = {
      check: async (request, policy) => {
        const outcome = facts.step?.f?.au;
        if (outcome === 'ok') {
          const user = policy.users.get(request.username);
          return user ? { facts: { outcome: 'ok' }, user } : { facts: { outcome: 'failed', detail: { replay: 'user not in the candidate users.toml' } } };
        }
        if (outcome === 'locked' || outcome === 'unavailable' || outcome === 'failed') return { facts: { outcome } };
        return { facts: { outcome: 'failed', detail: { replay: 'outcome not recorded' } } };
      },
    };
    this.#driver = createSessionDriver({ hostname: snapshot.config.hostname, facts: [provider], credentials, logger: silentLogger() });
    this.#listeners = new Map();
    for (const l of snapshot.config.listeners) {
      const name = l.name ?? `${l.role}:${l.address.port}`;
      this.#listeners.set(name, { ...l, name, authOffered: l.auth ?? l.role === 'submission' });
    }
  }

  #listener(record: JournalRecord): SessionRecord['listener'] {
    if (record.src !== undefined) {
      // As policy-sessions.ts builds it: Postfix's port is not recorded, the role is.
      return {
        source: record.src,
        name: record.l,
        address: { host: '127.0.0.1', port: 0 },
        role: record.r,
        tls: 'starttls',
        proxy_protocol_from: [],
        authOffered: record.r === 'submission',
      };
    }
    const known = this.#listeners.get(record.l);
    if (known) return known;
    for (const l of this.#listeners.values()) if (l.role === record.r) return { ...l, name: record.l };
    const first = this.#snapshot.config.listeners[0] as ListenerConfig;
    return { ...first, name: record.l, role: record.r, authOffered: record.r === 'submission' };
  }

  async replay(record: JournalRecord): Promise<SessionReplay> {
    const listener = this.#listener(record);
    const session: SessionRecord = {
      sessionId: record.id,
      listener,
      clientIp: record.ip,
      clientPort: 0,
      peerIp: record.px ?? record.ip,
      // Recipient literals must name one of our addresses: the one the client reached, when recorded.
      localIp: record.li ?? listener.address.host,
      localPort: listener.address.port,
      connectedAt: record.t,
      snapshot: this.#snapshot,
      tls: listener.tls === 'implicit',
      esmtp: false,
      recipients: [],
      rejectedRecipients: 0,
      errors: 0,
      messages: 0,
    };
    this.#facts.reset(record);
    const replayed = await walkCalls(this.#driver, session, callsOf(record), (i) => {
      this.#facts.step = record.s[i];
    });
    this.#facts.step = undefined;
    return {
      record,
      calls: record.s.map((call, i) => ({ call, recorded: call.d, replayed: replayed[i] })),
      unknown: [...this.#facts.unknown],
    };
  }
}

export function emptySummary(): ReplaySummary {
  return { sessions: 0, calls: 0, changedSessions: 0, changes: 0, groups: [], relayOpenings: { count: 0, examples: [] }, unknown: { sessions: 0, dnsblZones: {}, rateWindows: 0, senderDomain: 0, recipientVerification: 0 } };
}

function example(record: JournalRecord, user: string | undefined, call: JournalStep, before: JournalDecision | undefined, after: Decision | undefined): ReplayExample {
  return {
    session: record.id,
    at: record.t,
    client: record.ip,
    listener: record.l,
    ...(record.src !== undefined ? { source: record.src } : {}),
    ...(user !== undefined ? { user } : {}),
    call: call.c,
    input: call.i ?? '',
    before: describeRecorded(before),
    after: describeDecision(after),
  };
}

/** Adds one session's replay to the summary (groups keyed by kind, stage, rule, reason). */
export function summarize(summary: ReplaySummary, replay: SessionReplay, index: Map<string, ReplayGroup> = groupIndex(summary)): void {
  summary.sessions++;
  let changed = false;
  let user: string | undefined;
  for (const { call, recorded, replayed } of replay.calls) {
    summary.calls++;
    const after = replayed?.at(-1);
    if (call.c === 'auth' && after?.verdict === 'permit') user = call.i;
    if (call.c === 'mail' && call.u !== undefined) user = call.u;
    if (!replayed) continue; // not reached: an earlier call's change is the cause, and is counted there
    const before = recorded.at(-1);
    const wasRefused = before !== undefined && refusedVerdict(before[0]);
    const isRefused = after !== undefined && refusedVerdict(after.verdict);
    if (call.c === 'rcpt' && after?.verdict === 'permit' && after.reason === 'relay.trusted_network' && user === undefined && !(before?.[0] === 'permit' && before[3] === 'relay.trusted_network')) {
      summary.relayOpenings.count++;
      if (summary.relayOpenings.examples.length < EXAMPLES * 3) summary.relayOpenings.examples.push(example(replay.record, user, call, before, after));
    }
    let kind: ChangeKind | undefined;
    if (!wasRefused && isRefused) kind = 'newly_refused';
    else if (wasRefused && !isRefused) kind = 'newly_accepted';
    else if (wasRefused && isRefused && after && before && (after.verdict !== before[0] || after.reason !== before[3] || after.rule !== before[2])) kind = 'refused_otherwise';
    if (!kind || !after) continue;
    // Newly accepted: grouped by what refused it before; otherwise by what refuses it now.
    const [stage, rule, reason] = kind === 'newly_accepted' && before ? [before[1], before[2], before[3]] : [after.stage, after.rule, after.reason];
    const key = `${kind}\u0000${stage}\u0000${rule}\u0000${reason}`;
    let group = index.get(key);
    if (!group) {
      group = { kind, stage, rule, reason, count: 0, examples: [] };
      index.set(key, group);
      summary.groups.push(group);
    }
    group.count++;
    if (group.examples.length < EXAMPLES) group.examples.push(example(replay.record, user, call, before, after));
    summary.changes++;
    changed = true;
  }
  if (changed) summary.changedSessions++;
  if (replay.unknown.length > 0) {
    summary.unknown.sessions++;
    for (const what of replay.unknown) {
      if (what.startsWith('dnsbl ')) {
        const zone = what.slice(6);
        summary.unknown.dnsblZones[zone] = (summary.unknown.dnsblZones[zone] ?? 0) + 1;
      } else if (what === 'sender domain') summary.unknown.senderDomain++;
      else if (what === 'recipient verification') summary.unknown.recipientVerification++;
      else summary.unknown.rateWindows++;
    }
  }
}

export function groupIndex(summary: ReplaySummary): Map<string, ReplayGroup> {
  return new Map(summary.groups.map((g) => [`${g.kind}\u0000${g.stage}\u0000${g.rule}\u0000${g.reason}`, g]));
}

/**
 * Adds `part` (the summary of later sessions, e.g. of the next journal
 * segment replayed by a worker) to `into`: counts add up, groups keep their
 * first-seen order and the earliest examples; merging the parts in journal
 * order gives exactly the summary of one replay of them all in that order.
 */
export function mergeSummary(into: ReplaySummary, part: ReplaySummary, index: Map<string, ReplayGroup> = groupIndex(into)): void {
  into.sessions += part.sessions;
  into.calls += part.calls;
  into.changedSessions += part.changedSessions;
  into.changes += part.changes;
  for (const g of part.groups) {
    const key = `${g.kind}\u0000${g.stage}\u0000${g.rule}\u0000${g.reason}`;
    const group = index.get(key);
    if (!group) {
      const copy = { ...g, examples: [...g.examples] };
      index.set(key, copy);
      into.groups.push(copy);
      continue;
    }
    group.count += g.count;
    for (const e of g.examples) if (group.examples.length < EXAMPLES) group.examples.push(e);
  }
  into.relayOpenings.count += part.relayOpenings.count;
  for (const e of part.relayOpenings.examples) if (into.relayOpenings.examples.length < EXAMPLES * 3) into.relayOpenings.examples.push(e);
  into.unknown.sessions += part.unknown.sessions;
  for (const [zone, n] of Object.entries(part.unknown.dnsblZones)) into.unknown.dnsblZones[zone] = (into.unknown.dnsblZones[zone] ?? 0) + n;
  into.unknown.rateWindows += part.unknown.rateWindows;
  into.unknown.senderDomain += part.unknown.senderDomain;
  into.unknown.recipientVerification += part.unknown.recipientVerification;
}

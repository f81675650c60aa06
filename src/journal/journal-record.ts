// The decision journal's record: one closed SMTP session, compactly, as one
// JSON object (journal-segment.ts frames it as a line with a CRC). It holds
// the facts the policy decided on and the Decisions made, never a password or
// message content: client IP, PROXY peer, listener, per-call TLS/HELO, the AUTH
// user name, MAIL/RCPT addresses as sent, declared and measured sizes, DNSBL
// answers per zone, the counter values at decision time, sender-domain and
// credential outcomes.
//
// Versioning: `v` is 1. A new fact (recipient verification answers, ESMTP
// parameters beyond MAIL's, ...) is a new OPTIONAL key: older readers ignore
// it, newer readers treat its absence as "not recorded" (replay reports that
// as unknown, never guesses). Changing the meaning of an existing key needs v 2.
import type { Decision, Stage, Verdict } from '../policy/decision.ts';
import type { Facts, MessageFacts, WindowCounted, ConnectionCounted } from '../policy/facts.ts';
import type { ZoneStatus } from '../policy/dnsbl-rule.ts';
import type { SessionRecord, StepCall } from '../session/session-record.ts';
import type { SessionSource } from '../policy/context.ts';
import { MAX_SESSION_STEPS } from '../session/session-driver.ts';

export const JOURNAL_VERSION = 1;

/** [verdict, stage, rule, reason] */
export type JournalDecision = readonly [Verdict, Stage, string, string];

/** [zone name, target, status, codes?, problem?] */
export type JournalZone = readonly [string, 'client' | 'helo' | 'sender', ZoneStatus, (readonly string[])?, string?];

/** Compact facts: every key optional; absent = not gathered. */
export interface JournalFacts {
  /** connection: counts and the limit exceeded (if any), or unavailable. */
  readonly cn?: { readonly c?: ConnectionCounted; readonly x?: string; readonly u?: true };
  /** DNSBL answers were gathered for this call (the answers are the record's `dn`). */
  readonly dn?: 1;
  /** rate windows: [scope, name, windowMs, count]; u: unavailable. */
  readonly rt?: { readonly c: ReadonlyArray<readonly [WindowCounted['scope'], string, number, number]>; readonly x: number; readonly u?: true };
  /** sender domain status. */
  readonly sd?: string;
  /** credential check outcome (never the password). */
  readonly au?: string;
  /** measured message: size, bare line ending, NUL, longest line. */
  readonly ms?: MessageFacts;
  /** live recipient verification (issue 16): [outcome, the next hop's reply?]; never not_probed. */
  readonly rp?: readonly [RecordedProbeOutcome, string?];
}

/** What the next hop said when the recipient was verified live. */
export type RecordedProbeOutcome = 'accepted' | 'refused' | 'unavailable';

export interface JournalStep {
  readonly c: StepCall;
  readonly i?: string;
  readonly m?: string;
  readonly p?: Readonly<Record<string, string | true>>;
  readonly tls?: boolean;
  readonly h?: string;
  readonly e?: boolean;
  /** MAIL of a policy-service session: the user Postfix authenticated (SessionStep.user). */
  readonly u?: string;
  readonly f?: JournalFacts;
  readonly d: readonly JournalDecision[];
}

export interface JournalRecord {
  readonly v: number;
  /** Session id (smtp-server's), what `explain --replay ID` takes. */
  readonly id: string;
  /** Connected at (ms since epoch) and duration (ms). */
  readonly t: number;
  readonly ms: number;
  /** Listener name and role. */
  readonly l: string;
  readonly r: 'mx' | 'submission';
  /** Who asked, when not relayguard's own SMTP listener: "policy service" (a Postfix, src/policy-service). */
  readonly src?: SessionSource;
  readonly ip: string;
  /** The TCP peer when PROXY protocol named another client. */
  readonly px?: string;
  /** The local address the client connected to, when it is not the listener's own (a wildcard listener). */
  readonly li?: string;
  /** Policy generation the session ran under. */
  readonly g: number;
  /** DNSBL answers (client, HELO, sender) as the RCPT stage saw them. */
  readonly dn?: readonly JournalZone[];
  readonly s: readonly JournalStep[];
  /** The session made more driver calls than were kept (MAX_SESSION_STEPS): `s` is its beginning. */
  readonly cut?: true;
}

function decisionOf(d: Decision): JournalDecision {
  return [d.verdict, d.stage, d.rule, d.reason];
}

function factsOf(facts: Facts): { facts: JournalFacts | undefined; dnsbl: readonly JournalZone[] | undefined } {
  const out: { -readonly [K in keyof JournalFacts]: JournalFacts[K] } = {};
  let dnsbl: JournalZone[] | undefined;
  if (facts.connection) {
    const { counts, exceeded, unavailable } = facts.connection;
    out.cn = { ...(counts ? { c: counts } : {}), ...(exceeded ? { x: exceeded } : {}), ...(unavailable ? { u: true as const } : {}) };
  }
  if (facts.dnsbl) {
    out.dn = 1;
    dnsbl = facts.dnsbl.results.map((r): JournalZone => {
      if (r.problem !== undefined) return [r.zone, r.target, r.status, r.codes ?? [], r.problem];
      return r.codes && r.codes.length > 0 ? [r.zone, r.target, r.status, r.codes] : [r.zone, r.target, r.status];
    });
  }
  if (facts.rate) {
    out.rt = {
      c: (facts.rate.counts ?? []).map((w) => [w.scope, w.name, w.windowMs, w.count] as const),
      x: facts.rate.exceeded.length,
      ...(facts.rate.unavailable ? { u: true as const } : {}),
    };
  }
  if (facts.senderDomain) out.sd = facts.senderDomain.status;
  if (facts.auth) out.au = facts.auth.outcome;
  if (facts.message) out.ms = facts.message;
  if (facts.recipientProbe && facts.recipientProbe.outcome !== 'not_probed') {
    out.rp = facts.recipientProbe.reply !== undefined ? [facts.recipientProbe.outcome, facts.recipientProbe.reply] : [facts.recipientProbe.outcome];
  }
  return { facts: Object.keys(out).length > 0 ? out : undefined, dnsbl };
}

/** The journal record of a closed session (undefined when the driver kept no steps). */
export function encodeSession(session: SessionRecord, closedAt: number): JournalRecord | undefined {
  if (!session.steps) return undefined;
  let dn: readonly JournalZone[] | undefined;
  const steps = session.steps.map((step): JournalStep => {
    const { facts, dnsbl } = factsOf(step.facts);
    if (dnsbl && dn === undefined) dn = dnsbl;
    return {
      c: step.call,
      ...(step.input !== undefined ? { i: step.input } : {}),
      ...(step.mechanism !== undefined ? { m: step.mechanism } : {}),
      ...(step.params !== undefined ? { p: step.params } : {}),
      ...(step.tls !== undefined ? { tls: step.tls } : {}),
      ...(step.helo !== undefined ? { h: step.helo } : {}),
      ...(step.esmtp !== undefined ? { e: step.esmtp } : {}),
      ...(step.user !== undefined ? { u: step.user } : {}),
      ...(facts ? { f: facts } : {}),
      d: step.decisions.map(decisionOf),
    };
  });
  return {
    v: JOURNAL_VERSION,
    id: session.sessionId,
    t: session.connectedAt,
    ms: Math.max(0, closedAt - session.connectedAt),
    l: session.listener.name,
    r: session.listener.role,
    ...(session.listener.source !== undefined ? { src: session.listener.source } : {}),
    ip: session.clientIp,
    ...(session.peerIp !== session.clientIp ? { px: session.peerIp } : {}),
    ...(session.localIp !== session.listener.address.host && session.localIp !== '' ? { li: session.localIp } : {}),
    g: session.snapshot.generation,
    ...(dn ? { dn } : {}),
    s: steps,
    ...(steps.length >= MAX_SESSION_STEPS ? { cut: true as const } : {}),
  };
}

/** Structural check of a parsed line (a record from a newer writer keeps working: extra keys are ignored). */
export function isJournalRecord(value: unknown): value is JournalRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return r.v === JOURNAL_VERSION && typeof r.id === 'string' && typeof r.t === 'number' && typeof r.ip === 'string' && Array.isArray(r.s);
}

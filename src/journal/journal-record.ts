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
import type { DnsblFacts, ZoneStatus } from '../policy/dnsbl-rule.ts';
import type { SessionRecord, SessionStep, StepCall } from '../session/session-record.ts';
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

// ---------------------------------------------------------------------------
// The hot path. encodeSessionJson(s, t) is JSON.stringify(encodeSession(s, t)),
// byte for byte, built as one string without the intermediate objects and
// arrays (the spreads above make several objects per step; this runs once per
// closed session on the front door's thread). encodeSession stays the
// definition: test/journal/journal-encode.test.ts checks the two agree on
// every key, so a new key goes into both.

/** A string as JSON (JSON.stringify's escaping); undefined as an array element would be: null. */
function str(value: string | undefined): string {
  if (value === undefined) return 'null';
  // Hot path: most strings need no escape, and this scan is cheaper than a JSON.stringify call.
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    // ", \, control characters and surrogates (a lone one is escaped): JSON.stringify decides.
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(value);
  }
  return `"${value}"`;
}

/** A number as JSON.stringify writes it (NaN and Infinity: null). */
function num(value: number): string {
  return Number.isFinite(value) ? String(value) : 'null';
}

function decisionsJson(decisions: readonly Decision[]): string {
  let out = '[';
  for (let i = 0; i < decisions.length; i++) {
    const d = decisions[i] as Decision;
    if (i > 0) out += ',';
    out += `[${str(d.verdict)},${str(d.stage)},${str(d.rule)},${str(d.reason)}]`;
  }
  return `${out}]`;
}

function zonesJson(results: DnsblFacts['results']): string {
  let out = '[';
  for (let i = 0; i < results.length; i++) {
    const r = results[i] as DnsblFacts['results'][number];
    if (i > 0) out += ',';
    out += `[${str(r.zone)},${str(r.target)},${str(r.status)}`;
    if (r.problem !== undefined) out += `,${JSON.stringify(r.codes ?? [])},${str(r.problem)}]`;
    else out += r.codes && r.codes.length > 0 ? `,${JSON.stringify(r.codes)}]` : ']';
  }
  return `${out}]`;
}

/** The step's `f` object as JSON ('' when it would be empty: no key). */
function factsJson(facts: Facts): string {
  let out = '';
  if (facts.connection) {
    const { counts, exceeded, unavailable } = facts.connection;
    let cn = '';
    if (counts) cn += `,"c":${JSON.stringify(counts)}`;
    if (exceeded) cn += `,"x":${str(exceeded)}`;
    if (unavailable) cn += ',"u":true';
    out += `,"cn":{${cn.slice(1)}}`;
  }
  if (facts.dnsbl) out += ',"dn":1';
  if (facts.rate) {
    const counts = facts.rate.counts ?? [];
    let c = '';
    for (let i = 0; i < counts.length; i++) {
      const w = counts[i] as WindowCounted;
      c += `${i > 0 ? ',[' : '['}${str(w.scope)},${str(w.name)},${num(w.windowMs)},${num(w.count)}]`;
    }
    out += `,"rt":{"c":[${c}],"x":${num(facts.rate.exceeded.length)}${facts.rate.unavailable ? ',"u":true' : ''}}`;
  }
  if (facts.senderDomain) out += `,"sd":${str(facts.senderDomain.status)}`;
  if (facts.auth) out += `,"au":${str(facts.auth.outcome)}`;
  if (facts.message) out += `,"ms":${JSON.stringify(facts.message)}`;
  const probe = facts.recipientProbe;
  if (probe && probe.outcome !== 'not_probed') out += `,"rp":[${str(probe.outcome)}${probe.reply !== undefined ? `,${str(probe.reply)}` : ''}]`;
  return out.length > 0 ? `{${out.slice(1)}}` : '';
}

/** JSON.stringify(encodeSession(session, closedAt)), without building the record (undefined when no steps were kept). */
export function encodeSessionJson(session: SessionRecord, closedAt: number): string | undefined {
  const steps = session.steps;
  if (!steps) return undefined;
  let dn: string | undefined;
  let s = '';
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i] as SessionStep;
    s += `${i > 0 ? ',' : ''}{"c":${str(step.call)}`;
    if (step.input !== undefined) s += `,"i":${str(step.input)}`;
    if (step.mechanism !== undefined) s += `,"m":${str(step.mechanism)}`;
    if (step.params !== undefined) s += `,"p":${JSON.stringify(step.params)}`;
    if (step.tls !== undefined) s += step.tls ? ',"tls":true' : ',"tls":false';
    if (step.helo !== undefined) s += `,"h":${str(step.helo)}`;
    if (step.esmtp !== undefined) s += step.esmtp ? ',"e":true' : ',"e":false';
    if (step.user !== undefined) s += `,"u":${str(step.user)}`;
    const f = factsJson(step.facts);
    if (f !== '') s += `,"f":${f}`;
    if (step.facts.dnsbl && dn === undefined) dn = zonesJson(step.facts.dnsbl.results);
    s += `,"d":${decisionsJson(step.decisions)}}`;
  }
  const { listener } = session;
  let out = `{"v":${JOURNAL_VERSION},"id":${str(session.sessionId)},"t":${num(session.connectedAt)},"ms":${num(Math.max(0, closedAt - session.connectedAt))},"l":${str(listener.name)},"r":${str(listener.role)}`;
  if (listener.source !== undefined) out += `,"src":${str(listener.source)}`;
  out += `,"ip":${str(session.clientIp)}`;
  if (session.peerIp !== session.clientIp) out += `,"px":${str(session.peerIp)}`;
  if (session.localIp !== listener.address.host && session.localIp !== '') out += `,"li":${str(session.localIp)}`;
  out += `,"g":${num(session.snapshot.generation)}`;
  if (dn !== undefined) out += `,"dn":${dn}`;
  out += `,"s":[${s}]`;
  if (steps.length >= MAX_SESSION_STEPS) out += ',"cut":true';
  return `${out}}`;
}

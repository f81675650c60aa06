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
// The hot path. writeSession(out, s, t) writes JSON.stringify(encodeSession(s,
// t)), byte for byte, without building the record: no intermediate objects,
// arrays or strings (the spreads above make several objects per step, and
// JSON text built as a string is ~10 KiB of young-generation garbage per
// session; this runs once per closed session on the front door's thread).
// encodeSession stays the definition: test/journal/journal-encode.test.ts
// checks the two agree on every key, so a new key goes into both.

/** Where writeSession puts a record's JSON (FrameBuffer: straight into the batch's bytes). */
export interface JsonOut {
  /** Text that is ASCII and needs no escape (keys, punctuation, literals). */
  ascii(text: string): void;
  /** A JSON string literal. */
  string(value: string): void;
  /** Any other value, as JSON.stringify writes it. */
  value(value: unknown): void;
}

function outNumber(out: JsonOut, value: number): void {
  out.ascii(Number.isFinite(value) ? String(value) : 'null');
}

/** A string as an array element (undefined: null). */
function outElement(out: JsonOut, value: string | undefined): void {
  if (value === undefined) out.ascii('null');
  else out.string(value);
}

function outDecisions(out: JsonOut, decisions: readonly Decision[]): void {
  out.ascii('[');
  for (let i = 0; i < decisions.length; i++) {
    const d = decisions[i] as Decision;
    out.ascii(i > 0 ? ',[' : '[');
    outElement(out, d.verdict);
    out.ascii(',');
    outElement(out, d.stage);
    out.ascii(',');
    outElement(out, d.rule);
    out.ascii(',');
    outElement(out, d.reason);
    out.ascii(']');
  }
  out.ascii(']');
}

function outZones(out: JsonOut, results: DnsblFacts['results']): void {
  out.ascii('[');
  for (let i = 0; i < results.length; i++) {
    const r = results[i] as DnsblFacts['results'][number];
    out.ascii(i > 0 ? ',[' : '[');
    outElement(out, r.zone);
    out.ascii(',');
    outElement(out, r.target);
    out.ascii(',');
    outElement(out, r.status);
    if (r.problem !== undefined) {
      out.ascii(',');
      out.value(r.codes ?? []);
      out.ascii(',');
      out.string(r.problem);
    } else if (r.codes && r.codes.length > 0) {
      out.ascii(',');
      out.value(r.codes);
    }
    out.ascii(']');
  }
  out.ascii(']');
}

/** Whether the step's `f` object has a key (factsOf's "not empty"). */
function hasFacts(facts: Facts): boolean {
  return !!(facts.connection || facts.dnsbl || facts.rate || facts.senderDomain || facts.auth || facts.message || (facts.recipientProbe && facts.recipientProbe.outcome !== 'not_probed'));
}

function outFacts(out: JsonOut, facts: Facts): void {
  let sep = '{';
  if (facts.connection) {
    const { counts, exceeded, unavailable } = facts.connection;
    out.ascii('{"cn":{');
    let inner = '';
    if (counts) {
      out.ascii('"c":');
      out.value(counts);
      inner = ',';
    }
    if (exceeded) {
      out.ascii(`${inner}"x":`);
      out.string(exceeded);
      inner = ',';
    }
    if (unavailable) out.ascii(`${inner}"u":true`);
    out.ascii('}');
    sep = ',';
  }
  if (facts.dnsbl) {
    out.ascii(`${sep}"dn":1`);
    sep = ',';
  }
  if (facts.rate) {
    const counts = facts.rate.counts ?? [];
    out.ascii(`${sep}"rt":{"c":[`);
    for (let i = 0; i < counts.length; i++) {
      const w = counts[i] as WindowCounted;
      out.ascii(i > 0 ? ',[' : '[');
      outElement(out, w.scope);
      out.ascii(',');
      outElement(out, w.name);
      out.ascii(',');
      outNumber(out, w.windowMs);
      out.ascii(',');
      outNumber(out, w.count);
      out.ascii(']');
    }
    out.ascii('],"x":');
    outNumber(out, facts.rate.exceeded.length);
    out.ascii(facts.rate.unavailable ? ',"u":true}' : '}');
    sep = ',';
  }
  if (facts.senderDomain) {
    out.ascii(`${sep}"sd":`);
    out.string(facts.senderDomain.status);
    sep = ',';
  }
  if (facts.auth) {
    out.ascii(`${sep}"au":`);
    out.string(facts.auth.outcome);
    sep = ',';
  }
  if (facts.message) {
    out.ascii(`${sep}"ms":`);
    out.value(facts.message);
    sep = ',';
  }
  const probe = facts.recipientProbe;
  if (probe && probe.outcome !== 'not_probed') {
    out.ascii(`${sep}"rp":[`);
    out.string(probe.outcome);
    if (probe.reply !== undefined) {
      out.ascii(',');
      out.string(probe.reply);
    }
    out.ascii(']');
  }
  out.ascii('}');
}

/** Writes JSON.stringify(encodeSession(session, closedAt)) to `out` without building the record; false (nothing written) when no steps were kept. */
export function writeSession(out: JsonOut, session: SessionRecord, closedAt: number): boolean {
  const steps = session.steps;
  if (!steps) return false;
  const { listener } = session;
  out.ascii(`{"v":${JOURNAL_VERSION},"id":`);
  out.string(session.sessionId);
  out.ascii(',"t":');
  outNumber(out, session.connectedAt);
  out.ascii(',"ms":');
  outNumber(out, Math.max(0, closedAt - session.connectedAt));
  out.ascii(',"l":');
  out.string(listener.name);
  out.ascii(',"r":');
  out.string(listener.role);
  if (listener.source !== undefined) {
    out.ascii(',"src":');
    out.string(listener.source);
  }
  out.ascii(',"ip":');
  out.string(session.clientIp);
  if (session.peerIp !== session.clientIp) {
    out.ascii(',"px":');
    out.string(session.peerIp);
  }
  if (session.localIp !== listener.address.host && session.localIp !== '') {
    out.ascii(',"li":');
    out.string(session.localIp);
  }
  out.ascii(',"g":');
  outNumber(out, session.snapshot.generation);
  // The record's DNSBL answers: the first step's that has them.
  for (const step of steps) {
    if (step.facts.dnsbl) {
      out.ascii(',"dn":');
      outZones(out, step.facts.dnsbl.results);
      break;
    }
  }
  out.ascii(',"s":[');
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i] as SessionStep;
    out.ascii(i > 0 ? ',{"c":' : '{"c":');
    out.string(step.call);
    if (step.input !== undefined) {
      out.ascii(',"i":');
      out.string(step.input);
    }
    if (step.mechanism !== undefined) {
      out.ascii(',"m":');
      out.string(step.mechanism);
    }
    if (step.params !== undefined) {
      out.ascii(',"p":');
      out.value(step.params);
    }
    if (step.tls !== undefined) out.ascii(step.tls ? ',"tls":true' : ',"tls":false');
    if (step.helo !== undefined) {
      out.ascii(',"h":');
      out.string(step.helo);
    }
    if (step.esmtp !== undefined) out.ascii(step.esmtp ? ',"e":true' : ',"e":false');
    if (step.user !== undefined) {
      out.ascii(',"u":');
      out.string(step.user);
    }
    if (hasFacts(step.facts)) {
      out.ascii(',"f":');
      outFacts(out, step.facts);
    }
    out.ascii(',"d":');
    outDecisions(out, step.decisions);
    out.ascii('}');
  }
  out.ascii(steps.length >= MAX_SESSION_STEPS ? '],"cut":true}' : ']}');
  return true;
}

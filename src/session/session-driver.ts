// The one session driver: owns the stage order (connect -> auth -> mail, with
// HELO judged there -> rcpt -> data -> end of data), gathers each stage's facts
// through the providers (src/facts), runs the pure engine and records each
// Decision on the session record. The SMTP front door (serve) and
// `relayguard explain` both run it; nothing else decides.
//
// HELO is judged at MAIL, for both: smtp-server has no HELO hook, and deciding
// at MAIL (as Postfix's smtpd_delay_reject does) logs the sender too. So a
// HELO refusal is the reply to MAIL FROM.
//
// AUTH: the attempt rules (listener offers AUTH, TLS, mechanism) run first;
// only an attempt they let through has its credentials checked (an I/O fact:
// scrypt, lockout counters; auth/authenticator.ts for serve, an assumption for
// explain); the engine's AUTH list then decides on that outcome.
//
// DATA: a suspect account's message (facts.account.hold, src/accounts) is
// marked on the session for the front door's intake to store held.
//
// END OF DATA: the front door measures the body as it streams (size, bare
// CR/LF, NUL, longest line) and asks endOfData; the DATA rule list decides.
import type { Logger } from '../log/logger.ts';
import type { AuthRequest, CredentialCheck } from '../auth/authenticator.ts';
import { AuthError } from '../auth/errors.ts';
import { createSessionContext, listenerInfo, type AuthContext, type SessionContext } from '../policy/context.ts';
import { undeclaredUtf8 } from '../policy/address-refusal.ts';
import type { Decision, Stage } from '../policy/decision.ts';
import type { AuthFacts, DnsblFacts, Facts } from '../policy/facts.ts';
import {
  evaluateAuth,
  evaluateConnect,
  evaluateData,
  evaluateHelo,
  evaluateMail,
  evaluateRcpt,
  prepareAuth,
  prepareMail,
  prepareRcpt,
} from '../policy/engine.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';
import { openAll, type FactsProvider } from '../facts/session-facts.ts';
import type { EngineView, SessionRecord, SessionStages, SessionStep } from './session-record.ts';

/** The credential check the driver gathers as facts.auth (auth/authenticator.ts has one). */
export interface CredentialChecker {
  check(request: AuthRequest, snapshot: PolicySnapshot): Promise<CredentialCheck>;
}

export interface SessionDriverDeps {
  readonly hostname: string;
  readonly facts: readonly FactsProvider[];
  readonly credentials: CredentialChecker;
  readonly logger: Logger;
}

/** Zones were asked about the client and every one answered "not listed" (none listed, none failed). */
function dnsblPassed(facts: DnsblFacts): boolean {
  let asked = false;
  for (const r of facts.results) {
    if (r.target !== 'client') continue;
    if (r.status !== 'clean') return false;
    asked = true;
  }
  return asked;
}

const refused = (decision: Decision): boolean => decision.verdict === 'reject' || decision.verdict === 'defer';

function engineOf(session: SessionRecord): EngineView {
  if (!session.engine) throw new Error(`session ${session.sessionId} has no engine state (connect did not run)`);
  return session.engine;
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** The connection-level context with what the front door learned since (HELO, TLS, AUTH). */
function refreshed(session: SessionRecord, engine: EngineView): SessionContext {
  // Hot path (twice per message): one copy, the optional fields set on it, no spread of temporaries.
  const next: Writable<SessionContext> = { ...engine.ctx, tls: session.tls };
  if (session.helo) next.helo = session.helo;
  if (session.user) next.user = session.user;
  engine.ctx = next;
  return next;
}

function note(session: SessionRecord, decision: Decision): Decision {
  session.trace?.push(decision);
  return decision;
}

type MutableStep = Writable<SessionStep>;

/** A connection looping MAIL/RSET for its whole lifetime keeps its first steps only (the journal marks it cut). */
export const MAX_SESSION_STEPS = 1000;

/** The facts of a step that has gathered none yet: gathered() replaces it, nothing writes to it. */
const NONE_GATHERED: Facts = Object.freeze({});

/** Whether this driver call gets a journal step: the session keeps steps and has room for one more. */
function keepsStep(session: SessionRecord): boolean {
  return session.steps !== undefined && session.steps.length < MAX_SESSION_STEPS;
}

/**
 * Opens the journal step of one driver call (ask keepsStep first). Hot path (five steps per message): each call
 * site builds its step whole, one shape per site; spreading the fields into a new object cost ~1 µs a step.
 */
function openStep(session: SessionRecord, step: MutableStep): MutableStep {
  session.steps?.push(step);
  return step;
}

/**
 * Notes the facts a stage gathered on the step; returns them unchanged. A call that gathers once (all but
 * MAIL with HELO) keeps the stage's facts object itself: facts are values, nothing writes to them after
 * gathering (the engine is pure, the journal reads them at close).
 */
function gathered(step: MutableStep | undefined, facts: Facts): Facts {
  if (step) step.facts = step.facts === NONE_GATHERED ? facts : { ...step.facts, ...facts };
  return facts;
}

/** Whether an object has an own enumerable key (without Object.keys' array). */
function hasKeys(object: object): boolean {
  for (const key in object) if (Object.hasOwn(object, key)) return true;
  return false;
}

function noted(step: MutableStep | undefined, session: SessionRecord, decision: Decision): Decision {
  step?.decisions.push(decision);
  return note(session, decision);
}

export function createSessionDriver(deps: SessionDriverDeps): SessionStages {
  const decide = (session: SessionRecord, engine: EngineView, stage: Stage, ctx: SessionContext, decision: Decision, step: MutableStep | undefined): Decision => {
    engine.facts.decided?.(stage, ctx, decision);
    return noted(step, session, decision);
  };

  async function credentials(session: SessionRecord, request: AuthRequest): Promise<{ facts: AuthFacts; user?: string }> {
    try {
      const checked = await deps.credentials.check(request, session.snapshot);
      return checked.user ? { facts: checked.facts, user: checked.user.name } : { facts: checked.facts };
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      // A shared counter store that is down has logged its outage once (src/cluster); not again per attempt.
      const level = error.code === 'AUTH_STORE_UNAVAILABLE' ? 'debug' : 'error';
      deps.logger[level]({ session: session.sessionId, code: error.code }, 'authentication backend failed');
      return { facts: { outcome: 'unavailable', detail: { code: error.code } } };
    }
  }

  return {
    async connect(session) {
      const ctx = createSessionContext({
        listener: listenerInfo(session.listener),
        clientIp: session.clientIp,
        tls: session.tls,
        hostname: deps.hostname,
        ourAddresses: [session.localIp, session.listener.address.host],
      });
      const engine: EngineView = { ctx, facts: openAll(deps.facts, ctx, session.snapshot) };
      session.engine = engine;
      const step = keepsStep(session) ? openStep(session, { call: 'connect', facts: NONE_GATHERED, decisions: [] }) : undefined;
      return decide(session, engine, 'connect', ctx, evaluateConnect(ctx, session.snapshot, gathered(step, await engine.facts.gather('connect', ctx))), step);
    },

    async auth(session, attempt) {
      const engine = engineOf(session);
      const ctx: AuthContext = {
        ...refreshed(session, engine),
        attempt: { user: attempt.username.slice(0, 64), mechanism: attempt.method.toUpperCase() },
      };
      const step = keepsStep(session)
        ? openStep(session, { call: 'auth', input: ctx.attempt.user, mechanism: ctx.attempt.mechanism, tls: session.tls, facts: NONE_GATHERED, decisions: [] })
        : undefined;
      const prepared = prepareAuth(ctx, session.snapshot);
      if (!prepared.ok) return { decision: noted(step, session, prepared.decision) };
      const [stageFacts, checked] = await Promise.all([
        engine.facts.gather('auth', ctx),
        credentials(session, { method: attempt.method, username: attempt.username, password: attempt.password, clientIp: session.clientIp, tls: session.tls }),
      ]);
      const decision = decide(session, engine, 'auth', ctx, evaluateAuth(ctx, session.snapshot, gathered(step, { ...stageFacts, auth: checked.facts })), step);
      return decision.verdict === 'permit' && checked.user ? { decision, user: checked.user } : { decision };
    },

    async mail(session, raw, params) {
      const engine = engineOf(session);
      const ctx = { ...refreshed(session, engine), recipients: [] };
      let step: MutableStep | undefined;
      if (keepsStep(session)) {
        step = openStep(session, { call: 'mail', input: raw, tls: session.tls, esmtp: session.esmtp, facts: NONE_GATHERED, decisions: [] });
        if (hasKeys(params)) step.params = params;
        if (session.helo !== undefined) step.helo = session.helo;
        if (session.listener.source === 'policy service' && session.user !== undefined) step.user = session.user;
      }
      if (ctx.helo !== undefined) {
        const helo = noted(step, session, evaluateHelo(ctx, session.snapshot, gathered(step, await engine.facts.gather('helo', ctx))));
        if (refused(helo)) return { decision: helo };
      }
      const size = typeof params.SIZE === 'string' ? Number(params.SIZE) : undefined;
      const command = { address: raw, smtputf8: params.SMTPUTF8 === true };
      const prepared = prepareMail(ctx, session.snapshot, size !== undefined && Number.isFinite(size) ? { ...command, size } : command);
      if (!prepared.ok) return { decision: noted(step, session, prepared.decision) };
      const { sender } = prepared.ctx;
      const utf8 = sender.kind === 'mailbox' ? undeclaredUtf8('mail', sender, prepared.ctx.smtputf8) : undefined;
      if (utf8) return { decision: noted(step, session, utf8) };
      const mailFacts = gathered(step, await engine.facts.gather('mail', prepared.ctx));
      const decision = decide(session, engine, 'mail', prepared.ctx, evaluateMail(prepared.ctx, session.snapshot, mailFacts), step);
      if (refused(decision)) return { decision };
      // Only recipient verification reads them (the backscatter guard); nothing to keep otherwise.
      // (A connection keeps its snapshot: with verification off this is never set, on it is set at every MAIL.)
      if (session.snapshot.config.recipient_verification.enabled) session.senderChecks = {
        senderDomainResolves: mailFacts.senderDomain?.status === 'ok' || (sender.kind === 'mailbox' && session.snapshot.localDomains.has(sender.domain)),
        dnsblPassed: false,
      };
      engine.ctx = { ...prepared.ctx, recipients: [] };
      return { decision, sender: sender.address };
    },

    async rcpt(session, raw) {
      const engine = engineOf(session);
      const ctx = engine.ctx;
      const step = keepsStep(session) ? openStep(session, { call: 'rcpt', input: raw, facts: NONE_GATHERED, decisions: [] }) : undefined;
      const prepared = prepareRcpt(ctx, session.snapshot, { address: raw });
      if (!prepared.ok) return { decision: noted(step, session, prepared.decision) };
      const rcptFacts = gathered(step, await engine.facts.gather('rcpt', prepared.ctx));
      const evaluated = evaluateRcpt(prepared.ctx, session.snapshot, rcptFacts);
      // After the relay decision: every spelling of a trick is judged as one first.
      const utf8 = refused(evaluated) ? undefined : undeclaredUtf8('rcpt', prepared.ctx.recipient, ctx.smtputf8);
      const decision = decide(session, engine, 'rcpt', prepared.ctx, utf8 ?? evaluated, step);
      if (refused(decision)) return { decision };
      if (session.senderChecks && rcptFacts.dnsbl) session.senderChecks.dnsblPassed = dnsblPassed(rcptFacts.dnsbl);
      engine.ctx = { ...ctx, recipients: [...ctx.recipients, prepared.ctx.recipient] };
      return { decision, recipient: prepared.ctx.recipient.address };
    },

    async data(session) {
      const engine = engineOf(session);
      const step = keepsStep(session) ? openStep(session, { call: 'data', facts: NONE_GATHERED, decisions: [] }) : undefined;
      const facts = gathered(step, await engine.facts.gather('data', engine.ctx));
      const decision = decide(session, engine, 'data', engine.ctx, evaluateData(engine.ctx, session.snapshot, facts), step);
      // Account anomaly detection (src/accounts) wants this message kept: accepted as usual, stored held.
      if (facts.account?.hold) session.hold = facts.account.hold;
      else delete session.hold;
      return decision;
    },

    endOfData(session, message) {
      const engine = engineOf(session);
      const decision = evaluateData(engine.ctx, session.snapshot, { message });
      // The front door may ask while the body streams (to stop an oversized one early): one step per
      // message, the last measurement kept.
      const last = session.steps?.at(-1);
      if (last?.call === 'eod') session.steps?.pop();
      const step = keepsStep(session) ? openStep(session, { call: 'eod', facts: { message }, decisions: [] }) : undefined;
      return noted(step, session, decision);
    },

    close(session) {
      session.engine?.facts.close();
    },
  };
}

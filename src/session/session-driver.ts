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
// END OF DATA: the front door measures the body as it streams (size, bare
// CR/LF, NUL, longest line) and asks endOfData; the DATA rule list decides.
import type { Logger } from '../log/logger.ts';
import type { AuthRequest, CredentialCheck } from '../auth/authenticator.ts';
import { AuthError } from '../auth/errors.ts';
import { createSessionContext, listenerInfo, type AuthContext, type SessionContext } from '../policy/context.ts';
import type { Decision, Stage } from '../policy/decision.ts';
import type { AuthFacts, DnsblFacts } from '../policy/facts.ts';
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
import type { EngineView, SessionRecord, SessionStages } from './session-record.ts';

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

/** The connection-level context with what the front door learned since (HELO, TLS, AUTH). */
function refreshed(session: SessionRecord, engine: EngineView): SessionContext {
  const { ctx } = engine;
  const next: SessionContext = { ...ctx, tls: session.tls, ...(session.helo ? { helo: session.helo } : {}), ...(session.user ? { user: session.user } : {}) };
  engine.ctx = next;
  return next;
}

function note(session: SessionRecord, decision: Decision): Decision {
  session.trace?.push(decision);
  return decision;
}

export function createSessionDriver(deps: SessionDriverDeps): SessionStages {
  const decide = (session: SessionRecord, engine: EngineView, stage: Stage, ctx: SessionContext, decision: Decision): Decision => {
    engine.facts.decided?.(stage, ctx, decision);
    return note(session, decision);
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
      return decide(session, engine, 'connect', ctx, evaluateConnect(ctx, session.snapshot, await engine.facts.gather('connect', ctx)));
    },

    async auth(session, attempt) {
      const engine = engineOf(session);
      const ctx: AuthContext = {
        ...refreshed(session, engine),
        attempt: { user: attempt.username.slice(0, 64), mechanism: attempt.method.toUpperCase() },
      };
      const prepared = prepareAuth(ctx, session.snapshot);
      if (!prepared.ok) return { decision: note(session, prepared.decision) };
      const [gathered, checked] = await Promise.all([
        engine.facts.gather('auth', ctx),
        credentials(session, { method: attempt.method, username: attempt.username, password: attempt.password, clientIp: session.clientIp, tls: session.tls }),
      ]);
      const decision = decide(session, engine, 'auth', ctx, evaluateAuth(ctx, session.snapshot, { ...gathered, auth: checked.facts }));
      return decision.verdict === 'permit' && checked.user ? { decision, user: checked.user } : { decision };
    },

    async mail(session, raw, params) {
      const engine = engineOf(session);
      const ctx = { ...refreshed(session, engine), recipients: [] };
      if (ctx.helo !== undefined) {
        const helo = note(session, evaluateHelo(ctx, session.snapshot, await engine.facts.gather('helo', ctx)));
        if (refused(helo)) return { decision: helo };
      }
      const size = typeof params.SIZE === 'string' ? Number(params.SIZE) : undefined;
      const prepared = prepareMail(ctx, session.snapshot, size !== undefined && Number.isFinite(size) ? { address: raw, size } : { address: raw });
      if (!prepared.ok) return { decision: note(session, prepared.decision) };
      const mailFacts = await engine.facts.gather('mail', prepared.ctx);
      const decision = decide(session, engine, 'mail', prepared.ctx, evaluateMail(prepared.ctx, session.snapshot, mailFacts));
      if (refused(decision)) return { decision };
      const sender = prepared.ctx.sender;
      // Only recipient verification reads them (the backscatter guard); nothing to keep otherwise.
      // (A connection keeps its snapshot: with verification off this is never set, on it is set at every MAIL.)
      if (session.snapshot.config.recipient_verification.enabled) session.senderChecks = {
        senderDomainResolves: mailFacts.senderDomain?.status === 'ok' || (sender.kind === 'mailbox' && session.snapshot.localDomains.has(sender.domain)),
        dnsblPassed: false,
      };
      engine.ctx = { ...prepared.ctx, recipients: [] };
      return { decision, sender: prepared.ctx.sender.address };
    },

    async rcpt(session, raw) {
      const engine = engineOf(session);
      const ctx = engine.ctx;
      const prepared = prepareRcpt(ctx, session.snapshot, { address: raw });
      if (!prepared.ok) return { decision: note(session, prepared.decision) };
      const rcptFacts = await engine.facts.gather('rcpt', prepared.ctx);
      const decision = decide(session, engine, 'rcpt', prepared.ctx, evaluateRcpt(prepared.ctx, session.snapshot, rcptFacts));
      if (refused(decision)) return { decision };
      if (session.senderChecks && rcptFacts.dnsbl) session.senderChecks.dnsblPassed = dnsblPassed(rcptFacts.dnsbl);
      engine.ctx = { ...ctx, recipients: [...ctx.recipients, prepared.ctx.recipient] };
      return { decision, recipient: prepared.ctx.recipient.address };
    },

    async data(session) {
      const engine = engineOf(session);
      return decide(session, engine, 'data', engine.ctx, evaluateData(engine.ctx, session.snapshot, await engine.facts.gather('data', engine.ctx)));
    },

    endOfData(session, message) {
      const engine = engineOf(session);
      return note(session, evaluateData(engine.ctx, session.snapshot, { message }));
    },

    close(session) {
      session.engine?.facts.close();
    },
  };
}

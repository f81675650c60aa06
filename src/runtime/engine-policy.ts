// The front door's StagePolicy, implemented with the pure engine: for each
// stage, derive the engine's SessionContext from the session, gather the facts
// the stage needs (DNSBL, counters, sender domain), evaluate, and remember
// what passed (sender, recipients) for the next stage.
import type { Logger } from '../observability/logger.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import { AuthError } from '../auth/errors.ts';
import { createSessionContext, listenerInfo, type SessionContext } from '../policy/context.ts';
import { defer, type Decision } from '../policy/decision.ts';
import { replyFor } from '../policy/replies.ts';
import {
  evaluateConnect,
  evaluateData,
  evaluateHelo,
  evaluateMail,
  evaluateRcpt,
  prepareMail,
  prepareRcpt,
} from '../policy/engine.ts';
import { openAll, type FactsProvider, type SessionFacts } from '../facts/session-facts.ts';
import type { SessionState, StagePolicy } from '../smtp/stage-policy.ts';

export interface EnginePolicyDeps {
  readonly hostname: string;
  readonly authenticator: Authenticator;
  readonly facts: readonly FactsProvider[];
  readonly logger: Logger;
}

interface EngineSession {
  /** The connection as the engine sees it; updated as stages pass. */
  ctx: SessionContext;
  readonly facts: SessionFacts;
}

const KEY = 'engine';

function engineSession(session: SessionState): EngineSession {
  const value = session.facts.get(KEY) as EngineSession | undefined;
  if (!value) throw new Error(`session ${session.sessionId} has no engine state (connect did not run)`);
  return value;
}

/** The connection-level context with what the front door learned since (HELO, TLS, AUTH). */
function refreshed(session: SessionState, engine: EngineSession): SessionContext {
  const { ctx } = engine;
  const next: SessionContext = { ...ctx, tls: session.tls, ...(session.helo ? { helo: session.helo } : {}), ...(session.user ? { user: session.user } : {}) };
  engine.ctx = next;
  return next;
}

export function createEnginePolicy(deps: EnginePolicyDeps): StagePolicy {
  return {
    async connect(session) {
      const ctx = createSessionContext({
        listener: listenerInfo(session.listener),
        clientIp: session.clientIp,
        tls: session.tls,
        hostname: deps.hostname,
        ourAddresses: [session.localIp, session.listener.address.host],
      });
      const facts = openAll(deps.facts, ctx, session.snapshot);
      session.facts.set(KEY, { ctx, facts } satisfies EngineSession);
      const decision = evaluateConnect(ctx, session.snapshot, await facts.gather('connect', ctx));
      facts.decided?.('connect', ctx, decision);
      return decision;
    },

    async auth(session, attempt) {
      try {
        const result = await deps.authenticator.authenticate(
          { method: attempt.method, username: attempt.username, password: attempt.password, clientIp: session.clientIp, tls: session.tls },
          session.snapshot,
        );
        return result.user ? { decision: result.decision, user: result.user.name } : { decision: result.decision };
      } catch (error) {
        if (!(error instanceof AuthError)) throw error;
        // A shared counter store that is down has logged its outage once (src/cluster); not again per attempt.
        const level = error.code === 'AUTH_STORE_UNAVAILABLE' ? 'debug' : 'error';
        deps.logger[level]({ session: session.sessionId, code: error.code }, 'authentication backend failed');
        return {
          decision: defer('auth', 'auth', 'internal.error', replyFor('internal.error:auth'), { code: error.code }),
        };
      }
    },

    async mail(session, raw, params) {
      const engine = engineSession(session);
      const ctx = { ...refreshed(session, engine), recipients: [] };
      // HELO rules run here: smtp-server has no HELO hook, and deciding at
      // MAIL (as Postfix's smtpd_delay_reject does) logs the sender too.
      if (ctx.helo !== undefined) {
        const helo = evaluateHelo(ctx, session.snapshot, await engine.facts.gather('helo', ctx));
        if (helo.verdict === 'reject' || helo.verdict === 'defer') return { decision: helo };
      }
      const size = typeof params.SIZE === 'string' ? Number(params.SIZE) : undefined;
      const prepared = prepareMail(ctx, session.snapshot, size !== undefined && Number.isFinite(size) ? { address: raw, size } : { address: raw });
      if (!prepared.ok) return { decision: prepared.decision };
      const decision = evaluateMail(prepared.ctx, session.snapshot, await engine.facts.gather('mail', prepared.ctx));
      engine.facts.decided?.('mail', prepared.ctx, decision);
      if (decision.verdict === 'reject' || decision.verdict === 'defer') return { decision };
      engine.ctx = { ...prepared.ctx, recipients: [] };
      return { decision, sender: prepared.ctx.sender.address };
    },

    async rcpt(session, raw) {
      const engine = engineSession(session);
      const ctx = engine.ctx;
      const prepared = prepareRcpt(ctx, session.snapshot, { address: raw });
      if (!prepared.ok) return { decision: prepared.decision };
      const decision: Decision = evaluateRcpt(prepared.ctx, session.snapshot, await engine.facts.gather('rcpt', prepared.ctx));
      engine.facts.decided?.('rcpt', prepared.ctx, decision);
      if (decision.verdict === 'reject' || decision.verdict === 'defer') return { decision };
      engine.ctx = { ...ctx, recipients: [...ctx.recipients, prepared.ctx.recipient] };
      return { decision, recipient: prepared.ctx.recipient.address };
    },

    async data(session) {
      const engine = engineSession(session);
      const decision = evaluateData(engine.ctx, session.snapshot, await engine.facts.gather('data', engine.ctx));
      engine.facts.decided?.('data', engine.ctx, decision);
      return decision;
    },

    close(session) {
      const engine = session.facts.get(KEY) as EngineSession | undefined;
      engine?.facts.close();
    },
  };
}

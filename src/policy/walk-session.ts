// PURE apart from the injected fact gatherer. Walks one imagined SMTP session
// through every stage the way the front door does (connect, HELO, AUTH, MAIL,
// each RCPT), with the same engine, and records each stage's Decision. Used by
// `relayguard explain`; a stage after a decision that ends the session or the
// transaction is reported as not reached, as it would be on the wire.
import type { Decision, Stage } from './decision.ts';
import type { Mailbox } from './address.ts';
import type { SessionContext } from './context.ts';
import type { Facts, GatherFacts } from './facts.ts';
import { evaluateAuth, evaluateConnect, evaluateHelo, evaluateMail, evaluateRcpt, prepareMail, prepareRcpt } from './engine.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';

export interface SessionScript {
  readonly helo?: string;
  /** Log in as this user; the outcome of the credential check is given by `authOutcome`. */
  readonly user?: string;
  readonly authOutcome?: 'ok' | 'failed' | 'locked';
  readonly from: string;
  readonly size?: number;
  readonly rcpt: readonly string[];
}

export type StageStatus = 'evaluated' | 'not_reached' | 'skipped';

export interface StageReport {
  readonly stage: Stage;
  /** What the client sent at this stage, as given. */
  readonly input: string;
  readonly status: StageStatus;
  readonly decision?: Decision;
  /** The normalised address for MAIL/RCPT when it parsed. */
  readonly normalized?: string;
}

export interface SessionWalk {
  readonly stages: readonly StageReport[];
  readonly accepted: readonly Mailbox[];
}

const passes = (d: Decision): boolean => d.verdict === 'permit' || d.verdict === 'dunno';

export async function walkSession(
  start: SessionContext,
  snapshot: PolicySnapshot,
  script: SessionScript,
  gather: GatherFacts,
): Promise<SessionWalk> {
  const stages: StageReport[] = [];
  let ctx = start;
  let open = true; // the session still goes on
  const unreached = (stage: Stage, input: string): void => {
    stages.push({ stage, input, status: 'not_reached' });
  };

  const connect = evaluateConnect(ctx, snapshot, await gather('connect', ctx, snapshot));
  stages.push({ stage: 'connect', input: ctx.clientIp, status: 'evaluated', decision: connect });
  open = passes(connect);

  if (script.helo === undefined) stages.push({ stage: 'helo', input: '', status: 'skipped' });
  else if (!open) unreached('helo', script.helo);
  else {
    ctx = { ...ctx, helo: script.helo };
    const helo = evaluateHelo(ctx, snapshot, await gather('helo', ctx, snapshot));
    stages.push({ stage: 'helo', input: script.helo, status: 'evaluated', decision: helo });
    open = passes(helo);
  }

  if (script.user !== undefined) {
    if (!open) unreached('auth', script.user);
    else {
      const authCtx = { ...ctx, attempt: { user: script.user, mechanism: 'PLAIN' } };
      const facts: Facts = { ...(await gather('auth', authCtx, snapshot)) };
      const auth = evaluateAuth(authCtx, snapshot, script.authOutcome ? { ...facts, auth: { outcome: script.authOutcome } } : facts);
      stages.push({ stage: 'auth', input: script.user, status: 'evaluated', decision: auth });
      // A failed AUTH does not end the session: the client may go on unauthenticated.
      if (auth.verdict === 'permit') ctx = { ...ctx, user: script.user };
    }
  }

  const accepted: Mailbox[] = [];
  if (!open) {
    unreached('mail', script.from);
    for (const rcpt of script.rcpt) unreached('rcpt', rcpt);
    return { stages, accepted };
  }
  const mail = prepareMail(ctx, snapshot, script.size === undefined ? { address: script.from } : { address: script.from, size: script.size });
  const mailDecision = mail.ok ? evaluateMail(mail.ctx, snapshot, await gather('mail', mail.ctx, snapshot)) : mail.decision;
  stages.push({
    stage: 'mail',
    input: script.from,
    status: 'evaluated',
    decision: mailDecision,
    ...(mail.ok ? { normalized: `<${mail.ctx.sender.address}>` } : {}),
  });
  if (!mail.ok || !passes(mailDecision)) {
    for (const rcpt of script.rcpt) unreached('rcpt', rcpt);
    return { stages, accepted };
  }
  ctx = { ...ctx, sender: mail.ctx.sender, recipients: [] };

  for (const text of script.rcpt) {
    const rcpt = prepareRcpt(ctx, snapshot, { address: text });
    const decision = rcpt.ok ? evaluateRcpt(rcpt.ctx, snapshot, await gather('rcpt', rcpt.ctx, snapshot)) : rcpt.decision;
    stages.push({
      stage: 'rcpt',
      input: text,
      status: 'evaluated',
      decision,
      ...(rcpt.ok ? { normalized: `<${rcpt.ctx.recipient.address}>` } : {}),
    });
    if (rcpt.ok && passes(decision)) {
      accepted.push(rcpt.ctx.recipient);
      ctx = { ...ctx, recipients: [...accepted] };
    }
  }
  return { stages, accepted };
}

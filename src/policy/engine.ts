// PURE. The policy engine: one function per SMTP stage. Facts are gathered by
// the caller before a stage is evaluated; evaluation is synchronous, and the
// first decisive rule of the stage's list wins. When no rule decides, the
// stage permits (rule "default") — except AUTH and the relay decision, whose
// lists end in rules that always decide. A rule that throws becomes
// 451 4.3.0, never a crash and never a silent accept.
//
// MAIL and RCPT run in two steps because facts depend on the parsed address
// (the sender domain to resolve, the recipient to count):
//   prepareMail(ctx, snapshot, cmd) -> MailContext | refusal;  gather facts;  evaluateMail(...)
//   prepareRcpt(ctx, snapshot, cmd) -> RcptContext | refusal;  gather facts;  evaluateRcpt(...)
import { replyFor } from './replies.ts';
import { defer, permit, type Decision, type Stage } from './decision.ts';
import { parseRecipient, parseSender, type AddressOptions } from './address.ts';
import { recipientRefusal, senderRefusal } from './address-refusal.ts';
import type { AuthContext, MailContext, RcptContext, SessionContext } from './context.ts';
import { NO_FACTS, type Facts } from './facts.ts';
import { runRules, type RuleList } from './rule.ts';
import { DEFAULT_RULES, type RuleLists } from './rule-lists.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';

export interface MailCommand {
  /** The text after "MAIL FROM:" (path and parameters), or the bare address. */
  readonly address: string;
  /** The SIZE= parameter, when declared. */
  readonly size?: number;
  /** SMTPUTF8 was declared (also read from the parameters after the path, for `explain`). */
  readonly smtputf8?: boolean;
}

export interface RcptCommand {
  /** The text after "RCPT TO:" (path and parameters), or the bare address. */
  readonly address: string;
}

export type Prepared<C> = { readonly ok: true; readonly ctx: C } | { readonly ok: false; readonly decision: Decision };

export function internalError(stage: Stage, error: unknown): Decision {
  return defer(
    stage,
    'engine',
    'internal.error',
    replyFor('internal.error'),
    { error: error instanceof Error ? error.message : String(error) },
  );
}

function evaluate<C>(stage: Stage, rules: RuleList<C>, ctx: C, snapshot: PolicySnapshot, facts: Facts): Decision {
  try {
    return runRules(rules, ctx, snapshot, facts) ?? permit(stage, 'default', 'ok');
  } catch (error) {
    return internalError(stage, error);
  }
}

/**
 * Where the domainless `<postmaster>` goes: config.toml `postmaster`, else
 * postmaster@ the first local domain, else postmaster@ our hostname.
 */
export function postmasterAddress(ctx: SessionContext, snapshot: PolicySnapshot): string {
  return snapshot.config.postmaster ?? `postmaster@${snapshot.localDomains.first ?? ctx.ours.hostname}`;
}

export function addressOptions(ctx: SessionContext, snapshot: PolicySnapshot): AddressOptions {
  return {
    ourAddresses: ctx.ours.addresses,
    localDomains: snapshot.localDomains,
    postmasterDomain: ctx.ours.hostname,
    postmasterAddress: postmasterAddress(ctx, snapshot),
  };
}

export function evaluateConnect(ctx: SessionContext, snapshot: PolicySnapshot, facts: Facts, rules: RuleLists = DEFAULT_RULES): Decision {
  return evaluate('connect', rules.connect, ctx, snapshot, facts);
}

/** `ctx.helo` holds the name the client just gave. */
export function evaluateHelo(ctx: SessionContext, snapshot: PolicySnapshot, facts: Facts, rules: RuleLists = DEFAULT_RULES): Decision {
  return evaluate('helo', rules.helo, ctx, snapshot, facts);
}

/**
 * The attempt rules alone (listener offers AUTH, TLS, mechanism): a refusal
 * here means no credential is checked or counted. AUTH runs in two steps like
 * MAIL and RCPT: prepareAuth; gather facts.auth (the credential check); evaluateAuth.
 */
export function prepareAuth(ctx: AuthContext, snapshot: unknown, rules: RuleLists = DEFAULT_RULES): Prepared<AuthContext> {
  try {
    const refusal = runRules(rules.authAttempt, ctx, snapshot, NO_FACTS);
    return refusal === undefined ? { ok: true, ctx } : { ok: false, decision: refusal };
  } catch (error) {
    return { ok: false, decision: internalError('auth', error) };
  }
}

/** `facts.auth` carries the credential check's outcome; without it the attempt fails closed. */
export function evaluateAuth(ctx: AuthContext, snapshot: unknown, facts: Facts, rules: RuleLists = DEFAULT_RULES): Decision {
  try {
    return runRules(rules.authAttempt, ctx, snapshot, facts) ?? runRules(rules.auth, ctx, snapshot, facts) ?? permit('auth', 'default', 'ok');
  } catch (error) {
    return internalError('auth', error);
  }
}

/** Parses the sender strictly; on success the context the MAIL rules (and fact gathering) need. */
export function prepareMail(ctx: SessionContext, snapshot: PolicySnapshot, command: MailCommand): Prepared<MailContext> {
  try {
    const parsed = parseSender(command.address, addressOptions(ctx, snapshot));
    if (!parsed.ok) return { ok: false, decision: senderRefusal(parsed.refusal) };
    const smtputf8 = command.smtputf8 === true || parsed.params.some((p) => p.toUpperCase() === 'SMTPUTF8');
    const mailCtx: MailContext = { ...ctx, sender: parsed.value, recipients: [], smtputf8 };
    return { ok: true, ctx: command.size === undefined ? mailCtx : { ...mailCtx, declaredSize: command.size } };
  } catch (error) {
    return { ok: false, decision: internalError('mail', error) };
  }
}

export function evaluateMail(ctx: MailContext, snapshot: PolicySnapshot, facts: Facts, rules: RuleLists = DEFAULT_RULES): Decision {
  return evaluate('mail', rules.mail, ctx, snapshot, facts);
}

/** Parses the recipient strictly (every routing trick is refused here, 5xx). */
export function prepareRcpt(ctx: SessionContext, snapshot: PolicySnapshot, command: RcptCommand): Prepared<RcptContext> {
  try {
    if (ctx.sender === undefined) return { ok: false, decision: internalError('rcpt', new Error('RCPT before MAIL')) };
    const parsed = parseRecipient(command.address, addressOptions(ctx, snapshot));
    if (!parsed.ok) return { ok: false, decision: recipientRefusal(parsed.refusal) };
    return { ok: true, ctx: { ...ctx, sender: ctx.sender, recipient: parsed.value } };
  } catch (error) {
    return { ok: false, decision: internalError('rcpt', error) };
  }
}

/**
 * The relay list decides first, alone; only a recipient it permits goes on to
 * the anti-spam list, whose rules can refuse or defer but never open the relay.
 * The result is the anti-spam list's decisive Decision, else the relay permit.
 */
export function evaluateRcpt(ctx: RcptContext, snapshot: PolicySnapshot, facts: Facts, rules: RuleLists = DEFAULT_RULES): Decision {
  try {
    const relay = runRules(rules.relay, ctx, snapshot, facts);
    if (relay === undefined) throw new Error('relay rule list ended without a decision');
    if (relay.verdict !== 'permit') return relay;
    return runRules(rules.rcpt, ctx, snapshot, facts) ?? relay;
  } catch (error) {
    return internalError('rcpt', error);
  }
}

/** `facts.message` carries the size and line-ending findings of the received data. */
export function evaluateData(ctx: SessionContext, snapshot: PolicySnapshot, facts: Facts, rules: RuleLists = DEFAULT_RULES): Decision {
  return evaluate('data', rules.data, ctx, snapshot, facts);
}

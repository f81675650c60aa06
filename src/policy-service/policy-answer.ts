// PURE. A Decision as a Postfix policy answer (the `action=` value, access(5)).
//
//   refused (reject/defer)  "<code> <enhanced> <text>": exactly the reply the
//                           front door would send (src/policy/replies.ts);
//                           Postfix sends it to its client as is (a 421 also
//                           disconnects, as ours does).
//   permitted               DUNNO: Postfix goes on with the rest of its
//                           restriction list. The safe default: relayguard
//                           adds refusals to an existing Postfix, it does not
//                           switch off the admin's other checks.
//   OK                      only when the whole RCPT evaluation passed and the
//                           relay decision was a client-trust permit (relay
//                           networks: Postfix's permit_mynetworks; an
//                           authenticated user: permit_sasl_authenticated),
//                           and [policy_service] ok_for_trusted is on. Postfix
//                           then skips the rest of that restriction list, as
//                           those two built-ins do. A local-domain recipient,
//                           the engine's default permit and every other stage
//                           answer DUNNO.
//   PREPEND <header>        [policy_service] decision_header: on the first
//                           permitted recipient of a message (Postfix adds it
//                           once per PREPEND, and cannot take one at end of
//                           data). PREPEND is not decisive: Postfix goes on as
//                           for DUNNO.
import type { Decision } from '../policy/decision.ts';

export type ActionKind = 'dunno' | 'ok' | 'reject' | 'defer' | 'defer_if_permit' | 'prepend';

export interface PolicyAnswer {
  readonly kind: ActionKind;
  /** The text after "action=". */
  readonly action: string;
}

export interface AnswerOptions {
  readonly okForTrusted: boolean;
}

/** The relay permits that trust the client itself (Postfix: permit_mynetworks, permit_sasl_authenticated). */
const CLIENT_TRUST = new Set(['relay.trusted_network', 'relay.authenticated']);

export const DUNNO: PolicyAnswer = { kind: 'dunno', action: 'DUNNO' };
/** The answer of a request that ran out of its time budget (Postfix's own wording for a policy that is down). */
export const TIMEOUT_ANSWER: PolicyAnswer = { kind: 'defer_if_permit', action: 'DEFER_IF_PERMIT Service temporarily unavailable' };

/** One line, printable: a reply text never carries CR/LF into the protocol. */
const oneLine = (text: string): string => text.replace(/[\r\n\0]+/g, ' ');

export function answerFor(decision: Decision, options: AnswerOptions): PolicyAnswer {
  if ((decision.verdict === 'reject' || decision.verdict === 'defer') && decision.reply) {
    const { code, enhanced, text } = decision.reply;
    return { kind: decision.verdict, action: oneLine(`${code} ${enhanced} ${text}`) };
  }
  if (decision.verdict === 'permit' && decision.stage === 'rcpt' && options.okForTrusted && CLIENT_TRUST.has(decision.reason)) {
    return { kind: 'ok', action: 'OK' };
  }
  return DUNNO;
}

/** The PREPEND answer carrying relayguard's decision for the message. */
export function prependAnswer(header: string, decision: Decision, hostname: string): PolicyAnswer {
  return { kind: 'prepend', action: oneLine(`PREPEND ${header}: ${decisionHeaderValue(decision, hostname)}`) };
}

/** The decision header's value ("pass (host; rule=...; reason=...)"): the policy service's PREPEND and the milter's ADDHEADER. */
export function decisionHeaderValue(decision: Decision, hostname: string): string {
  return oneLine(`${decision.verdict === 'permit' ? 'pass' : decision.verdict} (${hostname}; rule=${decision.rule}; reason=${decision.reason})`);
}

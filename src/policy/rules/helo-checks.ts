// HELO sanity rules, in Postfix's order and with its replies: a HELO that
// claims to be us is refused (a check_helo_access on our own names), then an
// invalid one (reject_invalid_helo_hostname, 501 5.5.2), then a bare name
// (reject_non_fqdn_helo_hostname, 504 5.5.2). Each is switched in
// policies/checks.toml [helo]; trusted and authenticated clients are exempt.
// The runtime evaluates them when MAIL FROM arrives (smtpd_delay_reject), so
// the log has the sender too.
import { replyFor } from '../replies.ts';
import { dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { SessionContext } from '../context.ts';
import type { PolicySnapshot } from '../../config/snapshot.ts';
import { exemptFromClientChecks } from '../../config/trust.ts';
import { replySafe } from '../reply-safe.ts';
import { classifyHelo, heloClaimsUs, type HeloName } from '../helo-name.ts';

type HeloTest = (helo: HeloName, ctx: SessionContext, snapshot: PolicySnapshot) => Decision | undefined;

// The three rules run one after the other on the same name: classified once,
// not three times per MAIL (a HeloName is immutable, so sharing it is safe).
let lastHelo: { readonly text: string; readonly helo: HeloName } | undefined;

function classified(text: string): HeloName {
  if (lastHelo?.text !== text) lastHelo = { text, helo: classifyHelo(text) };
  return lastHelo.helo;
}

function heloRule(name: string, test: HeloTest): Rule<SessionContext> {
  return {
    name,
    evaluate(ctx, snapshot): Decision {
      if (ctx.helo === undefined || exemptFromClientChecks(ctx, snapshot)) return dunno('helo', name);
      return test(classified(ctx.helo), ctx, snapshot) ?? dunno('helo', name);
    },
  };
}

const shown = (ctx: SessionContext): string => `<${replySafe(ctx.helo ?? '', 100)}>`;

export const heloImpersonationRule = heloRule('helo-impersonation', (helo, ctx, snapshot) => {
  const { rejectImpersonation, ourNames } = snapshot.checks.helo;
  if (!rejectImpersonation || !heloClaimsUs(helo, ctx.ours, ourNames, ctx.clientIp)) return undefined;
  return reject('helo', 'helo-impersonation', 'helo.impersonation', replyFor('helo.impersonation', shown(ctx)), { helo: ctx.helo ?? '' });
});

export const heloInvalidRule = heloRule('helo-invalid', (helo, ctx, snapshot) => {
  if (!snapshot.checks.helo.rejectInvalid || helo.kind !== 'invalid') return undefined;
  return reject('helo', 'helo-invalid', 'helo.invalid', replyFor('helo.invalid', shown(ctx)), { helo: ctx.helo ?? '' });
});

export const heloNonFqdnRule = heloRule('helo-non-fqdn', (helo, ctx, snapshot) => {
  if (!snapshot.checks.helo.rejectNonFqdn || helo.kind !== 'name' || helo.fqdn) return undefined;
  return reject('helo', 'helo-non-fqdn', 'helo.not_fqdn', replyFor('helo.not_fqdn', shown(ctx)), { helo: ctx.helo ?? '' });
});

// PURE. The ordered rule lists of every stage, in one place so the order can be
// read (and reviewed) like a Postfix main.cf. The relay decision has its own
// list, evaluated before and apart from the anti-spam list: only the relay
// list can permit relaying, and it ends in a rule that always decides.
import type { AuthContext, MailContext, RcptContext, SessionContext } from './context.ts';
import type { RuleList } from './rule.ts';
import { denylistRule } from './rules/denylist.ts';
import { connectionLimitsRule } from './rules/connection-limits.ts';
import { heloImpersonationRule, heloInvalidRule, heloNonFqdnRule } from './rules/helo-checks.ts';
import { authOfferedRule } from './rules/auth-offered.ts';
import { authTlsRule } from './rules/auth-tls.ts';
import { authCredentialsRule } from './rules/auth-credentials.ts';
import { accountLockRule } from './rules/account-lock.ts';
import { authMechanismRule } from './rules/auth-mechanism.ts';
import { submissionAuthRule } from './rules/submission-auth.ts';
import { senderOwnershipRule } from './rules/sender-ownership.ts';
import { declaredSizeRule } from './rules/declared-size.ts';
import { senderDomainRule } from './rules/sender-domain.ts';
import { specialUseSenderRule } from './rules/special-use-sender.ts';
import { rateLimitsRule } from './rules/rate-limits.ts';
import { relayLocalDomainRule } from './rules/relay-local-domain.ts';
import { ownLiteralRule } from './rules/own-literal.ts';
import { barePostmasterRule } from './rules/bare-postmaster.ts';
import { recipientVerifyRule } from './rules/recipient-verify.ts';
import { recipientProbeRule } from './rules/recipient-probe.ts';
import { relayNetworksRule } from './rules/relay-networks.ts';
import { relayAuthenticatedRule } from './rules/relay-authenticated.ts';
import { relayDenyRule } from './rules/relay-deny.ts';
import { recipientLimitRule } from './rules/recipient-limit.ts';
import { dnsblRule } from './rules/dnsbl.ts';
import { dataSizeRule } from './rules/data-size.ts';
import { bareLineEndingsRule } from './rules/bare-line-endings.ts';
import { lineLengthRule, nulBytesRule } from './rules/message-content.ts';

export interface RuleLists {
  readonly connect: RuleList<SessionContext>;
  readonly helo: RuleList<SessionContext>;
  /** Whether the attempt may be made at all (listener, TLS, mechanism): before any credential is checked. */
  readonly authAttempt: RuleList<AuthContext, unknown>;
  /** Ends in a decisive rule: no credential outcome, no login. */
  readonly auth: RuleList<AuthContext, unknown>;
  readonly mail: RuleList<MailContext>;
  /** smtpd_relay_restrictions: ends in a decisive rule. */
  readonly relay: RuleList<RcptContext>;
  /** smtpd_recipient_restrictions: runs only after the relay list permitted. */
  readonly rcpt: RuleList<RcptContext>;
  readonly data: RuleList<SessionContext>;
}

export const DEFAULT_RULES: RuleLists = Object.freeze({
  connect: [denylistRule, connectionLimitsRule],
  // smtpd_helo_restrictions, switched in policies/checks.toml; run at MAIL time.
  helo: [heloImpersonationRule, heloInvalidRule, heloNonFqdnRule],
  authAttempt: [authOfferedRule, authTlsRule, authMechanismRule],
  // A locked account (src/accounts) is refused before its right credentials log it in.
  auth: [accountLockRule, authCredentialsRule],
  mail: [submissionAuthRule, senderOwnershipRule, declaredSizeRule, specialUseSenderRule, senderDomainRule, rateLimitsRule('mail')],
  relay: [ownLiteralRule, barePostmasterRule, recipientProbeRule, recipientVerifyRule, relayLocalDomainRule, relayNetworksRule, relayAuthenticatedRule, relayDenyRule],
  rcpt: [recipientLimitRule, dnsblRule, rateLimitsRule('rcpt')],
  // End of data, on what the front door measured while the body streamed in.
  data: [dataSizeRule, bareLineEndingsRule, nulBytesRule, lineLengthRule],
});

// PURE. The value every policy rule returns. A Decision says what to do
// (verdict), why (rule + reason), what the client is told (reply) and what only
// the log sees (detail). Logging, metrics and the dashboard all read Decisions.

export type Verdict = 'permit' | 'reject' | 'defer' | 'dunno';
export type Stage = 'connect' | 'helo' | 'auth' | 'mail' | 'rcpt' | 'data';

/** Closed set of reason codes shared by logs, metrics labels and the dashboard. */
export const REASONS = [
  'ok',
  'internal.error',
  // connect
  'denylist.listed',
  'allowlist.listed',
  'conn.limit',
  'conn.rate',
  'conn.global_limit',
  'conn.early_talker',
  'proxy.untrusted',
  // helo
  'helo.missing',
  'helo.invalid',
  'helo.not_fqdn',
  'helo.impersonation',
  // auth
  'auth.ok',
  'auth.failed',
  'auth.tls_required',
  'auth.locked',
  'auth.delayed',
  'auth.not_offered',
  // auth: the account is locked by account anomaly detection (src/accounts) until an administrator releases it
  'auth.account_locked',
  // mail
  'mail.auth_required',
  'mail.sender_not_owned',
  'mail.size_exceeded',
  'mail.bad_address',
  'mail.unknown_domain',
  'mail.null_mx',
  'mail.special_use_domain',
  'mail.rate',
  // mail/rcpt: SMTPUTF8 (RFC 6531): a UTF-8 mailbox in a transaction that did not declare it, or not in NFC
  'mail.utf8_undeclared',
  'mail.utf8_not_nfc',
  'rcpt.utf8_undeclared',
  'rcpt.utf8_not_nfc',
  // mail/rcpt: ESMTP parameters judged against the extension table (src/smtp/extensions.ts)
  'param.not_offered',
  'param.malformed',
  // rcpt
  'rcpt.bad_address',
  'rcpt.source_route',
  'rcpt.percent_hack',
  'rcpt.bang_path',
  'rcpt.address_literal',
  'rcpt.quoted_route',
  'rcpt.multiple_at',
  'rcpt.local_domain',
  'rcpt.postmaster',
  'rcpt.unknown_user',
  'rcpt.unverified',
  'relay.trusted_network',
  'relay.authenticated',
  'relay.denied',
  'rcpt.too_many',
  'rcpt.rate',
  'dnsbl.listed',
  'dnsbl.zone_error',
  'dnsbl.temp_fail',
  'rhsbl.listed',
  'quota.exceeded',
  // connect/mail/rcpt: the shared counters are unreachable and cluster.fail_open = false
  'limits.unavailable',
  // data
  'data.size_exceeded',
  'data.bare_line_ending',
  'data.bad_content',
  'data.queued',
  'data.spool_error',
  // protocol
  'proto.too_many_errors',
  'proto.pipelining',
  'proto.command_disabled',
  'proto.syntax',
  'proto.line_too_long',
  'proto.bad_command',
  'proto.bad_utf8',
  'proto.timeout',
  'proto.shutdown',
  // account anomaly detection (src/accounts): a trigger fired for an authenticated user (the client is not told)
  'account.volume',
  'account.recipient_domains',
  'account.login_networks',
  'account.remote_refusals',
  'account.new_sender',
  // the Postfix policy service (src/policy-service): a request that ran out of its time budget
  'policy_service.timeout',
] as const;

export type ReasonCode = (typeof REASONS)[number];

export interface Reply {
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
}

export type DetailValue = string | number | boolean | readonly string[];

export interface Decision {
  readonly verdict: Verdict;
  readonly stage: Stage;
  /** Which rule decided, as named in the policy (e.g. "denylist", "relay-networks"). */
  readonly rule: string;
  readonly reason: ReasonCode;
  /** Safe to show the client. Absent for permit/dunno. */
  readonly reply?: Reply;
  /** For logs only; never sent to the client. Never holds secrets. */
  readonly detail?: Readonly<Record<string, DetailValue>>;
}

export function dunno(stage: Stage, rule: string): Decision {
  return { verdict: 'dunno', stage, rule, reason: 'ok' };
}

export function permit(stage: Stage, rule: string, reason: ReasonCode, detail?: Record<string, DetailValue>): Decision {
  return detail ? { verdict: 'permit', stage, rule, reason, detail } : { verdict: 'permit', stage, rule, reason };
}

export function reject(stage: Stage, rule: string, reason: ReasonCode, reply: Reply, detail?: Record<string, DetailValue>): Decision {
  return decisive('reject', stage, rule, reason, reply, detail);
}

export function defer(stage: Stage, rule: string, reason: ReasonCode, reply: Reply, detail?: Record<string, DetailValue>): Decision {
  return decisive('defer', stage, rule, reason, reply, detail);
}

/** A reject carries a 5xx reply and a defer a 4xx, or it is a bug: thrown, so the engine answers 451. */
function decisive(
  verdict: 'reject' | 'defer',
  stage: Stage,
  rule: string,
  reason: ReasonCode,
  reply: Reply,
  detail: Record<string, DetailValue> | undefined,
): Decision {
  const digit = verdict === 'reject' ? 5 : 4;
  if (Math.floor(reply.code / 100) !== digit) throw new RangeError(`${verdict} needs a ${digit}xx reply, got ${reply.code}`);
  return detail ? { verdict, stage, rule, reason, reply, detail } : { verdict, stage, rule, reason, reply };
}

/** First decisive (non-dunno) decision wins, as in Postfix restriction lists. */
export function firstDecisive(decisions: Iterable<Decision>): Decision | undefined {
  for (const decision of decisions) if (decision.verdict !== 'dunno') return decision;
  return undefined;
}

/** Formats a reply the way it goes on the wire: "554 5.7.1 text". */
export function formatReply(reply: Reply): string {
  return `${reply.code} ${reply.enhanced} ${reply.text}`;
}

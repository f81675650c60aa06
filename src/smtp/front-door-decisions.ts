// The Decisions the front door makes itself, for protocol events that happen
// before or outside the policy engine (early talkers, AUTH before TLS, the
// error cap, internal failures). Published like any other Decision.
import type { Decision, Reply } from '../policy/decision.ts';
import { replyFor } from '../policy/replies.ts';

export const INTERNAL_ERROR: Reply = replyFor('internal.error');
export const SHUTTING_DOWN: Reply = replyFor('proto.shutdown');
export const EARLY_TALKER: Decision = {
  verdict: 'defer', // a 421: the client may come back and wait for the banner
  stage: 'connect',
  rule: 'greet_delay',
  reason: 'conn.early_talker',
  reply: replyFor('conn.early_talker'),
};
// RelaySmtpServer answers AUTH before TLS itself (before any credential is
// read), with exactly this reply; the front door only records it.
export const AUTH_TLS_REQUIRED: Decision = {
  verdict: 'reject',
  stage: 'auth',
  rule: 'auth-tls',
  reason: 'auth.tls_required',
  reply: replyFor('auth.tls_required'),
};
// A command sent where RFC 2920 forbids pipelining (smtp.forbid_unauth_pipelining):
// RelaySmtpServer answers with exactly this reply and disconnects.
export const PIPELINING_VIOLATION: Decision = {
  verdict: 'reject',
  stage: 'connect',
  rule: 'forbid_unauth_pipelining',
  reason: 'proto.pipelining',
  reply: replyFor('proto.pipelining'),
};
export const TOO_MANY_ERRORS: Decision = {
  verdict: 'defer',
  stage: 'rcpt',
  rule: 'max_errors',
  reason: 'proto.too_many_errors',
  reply: replyFor('proto.too_many_errors'),
};


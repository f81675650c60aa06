// The Decisions the front door makes itself, for protocol events that happen
// before or outside the policy engine (early talkers, AUTH before TLS, the
// error cap, internal failures). Published like any other Decision.
import type { Decision, Reply } from '../policy/decision.ts';

export const INTERNAL_ERROR: Reply = { code: 451, enhanced: '4.3.0', text: 'Local error in processing, try again later' };
export const EARLY_TALKER: Decision = {
  verdict: 'defer', // a 421: the client may come back and wait for the banner
  stage: 'connect',
  rule: 'greet_delay',
  reason: 'conn.early_talker',
  reply: { code: 421, enhanced: '4.7.0', text: 'Protocol error: command sent before the greeting' },
};
// RelaySmtpServer answers AUTH before TLS itself (before any credential is
// read), with exactly this reply; the front door only records it.
export const AUTH_TLS_REQUIRED: Decision = {
  verdict: 'reject',
  stage: 'auth',
  rule: 'auth-tls',
  reason: 'auth.tls_required',
  reply: { code: 538, enhanced: '5.7.11', text: 'Encryption required for requested authentication mechanism' },
};
// A command sent where RFC 2920 forbids pipelining (smtp.forbid_unauth_pipelining):
// RelaySmtpServer answers with exactly this reply and disconnects.
export const PIPELINING_VIOLATION: Decision = {
  verdict: 'reject',
  stage: 'connect',
  rule: 'forbid_unauth_pipelining',
  reason: 'proto.pipelining',
  reply: { code: 554, enhanced: '5.5.0', text: 'Error: SMTP protocol synchronization' },
};
export const TOO_MANY_ERRORS: Decision = {
  verdict: 'defer',
  stage: 'rcpt',
  rule: 'max_errors',
  reason: 'proto.too_many_errors',
  reply: { code: 421, enhanced: '4.7.0', text: 'Too many errors, closing connection' },
};


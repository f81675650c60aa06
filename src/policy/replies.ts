// PURE. The one reply table: every reason code maps to the reply a client
// hears for it (code, enhanced code, text), here and nowhere else. Rules,
// the engine, the authenticator's credential facts and the front door's own
// protocol Decisions all take their replies from `replyFor`. A reason that is
// answered two ways (AUTH "not offered" by the listener or for the mechanism;
// an internal error at AUTH, where RFC 4954 wants 454) has a second key,
// "<reason>:<variant>". Texts that name what was refused take one argument
// (already made reply-safe by the caller). Texts stay generic: details go to
// the Decision's detail, for the log only.
import type { ReasonCode, Reply } from './decision.ts';

interface Entry {
  readonly code: number;
  readonly enhanced: string;
  /** Fixed text, or a text built from one argument (a recipient, a HELO name, a user). */
  readonly text: string | ((arg: string) => string);
}

const LOCAL_ERROR = 'Local error in processing, try again later';

const TABLE = {
  // Any stage: an unexpected error inside a stage; never a crash, never an accept.
  'internal.error': { code: 451, enhanced: '4.3.0', text: LOCAL_ERROR },
  // AUTH's own temporary failure (RFC 4954: 454 4.7.0), e.g. counters unreachable.
  'internal.error:auth': { code: 454, enhanced: '4.7.0', text: 'Temporary authentication failure' },

  // connect
  'denylist.listed': { code: 554, enhanced: '5.7.1', text: (why: string) => why || 'Access denied' },
  'conn.limit': { code: 421, enhanced: '4.7.0', text: 'Too many connections, try again later' },
  'conn.rate': { code: 421, enhanced: '4.7.0', text: 'Too many connections, try again later' },
  'conn.global_limit': { code: 421, enhanced: '4.7.0', text: 'Too many connections, try again later' },
  'conn.early_talker': { code: 421, enhanced: '4.7.0', text: 'Protocol error: command sent before the greeting' },
  'limits.unavailable': { code: 451, enhanced: '4.3.0', text: 'Temporary local problem, try again later' },
  // At connect the counters' outage closes the connection (421).
  'limits.unavailable:connect': { code: 421, enhanced: '4.3.0', text: 'Service temporarily unavailable, try again later' },

  // helo (judged at MAIL, see src/session)
  'helo.impersonation': { code: 550, enhanced: '5.7.1', text: (helo: string) => `${helo}: Helo command rejected: that name is ours, not yours` },
  'helo.invalid': { code: 501, enhanced: '5.5.2', text: (helo: string) => `${helo}: Helo command rejected: Invalid name` },
  'helo.not_fqdn': { code: 504, enhanced: '5.5.2', text: (helo: string) => `${helo}: Helo command rejected: need fully-qualified hostname` },

  // auth
  'auth.failed': { code: 535, enhanced: '5.7.8', text: 'Authentication credentials invalid' },
  'auth.tls_required': { code: 538, enhanced: '5.7.11', text: 'Encryption required for requested authentication mechanism' },
  'auth.locked': { code: 454, enhanced: '4.7.0', text: 'Too many failed authentication attempts, try again later' },
  // The same reply as wrong credentials: a bot holding a stolen password learns nothing more.
  'auth.account_locked': { code: 535, enhanced: '5.7.8', text: 'Authentication credentials invalid' },
  'auth.not_offered': { code: 502, enhanced: '5.5.1', text: 'Authentication not available' },
  'auth.not_offered:mechanism': { code: 504, enhanced: '5.5.4', text: 'Unrecognized authentication type' },

  // mail
  'mail.auth_required': { code: 530, enhanced: '5.7.0', text: 'Authentication required' },
  'mail.sender_not_owned': { code: 553, enhanced: '5.7.1', text: (user: string) => `Sender address rejected: not owned by user ${user}` },
  // MAIL FROM:<> from a user whose senders grant neither "*" nor "<>" ([auth] null_sender = "granted").
  'mail.sender_not_owned:null': { code: 553, enhanced: '5.7.1', text: (user: string) => `Sender address rejected: the null sender <> is not granted to user ${user}` },
  'mail.size_exceeded': { code: 552, enhanced: '5.3.4', text: 'Message size exceeds fixed maximum message size' },
  'mail.bad_address': { code: 553, enhanced: '5.1.7', text: 'Bad sender address syntax' },
  'mail.unknown_domain': { code: 550, enhanced: '5.1.8', text: (who: string) => `${who}: Sender address rejected: Domain not found` },
  'mail.unknown_domain:temporary': { code: 450, enhanced: '4.1.8', text: (who: string) => `${who}: Sender address rejected: Domain not found` },
  'mail.unknown_domain:lookup': { code: 450, enhanced: '4.1.8', text: (who: string) => `${who}: Sender address rejected: Domain lookup failed, try again later` },
  'mail.null_mx': { code: 550, enhanced: '5.7.27', text: (who: string) => `${who}: Sender address rejected: Domain does not accept mail` },
  // RFC 6761 special-use names (localhost, invalid and their subdomains): no DNS asked, never a mailbox.
  'mail.special_use_domain': { code: 550, enhanced: '5.7.1', text: (who: string) => `${who}: Sender address rejected: special-use domain (RFC 6761) cannot receive mail` },
  'mail.rate': { code: 450, enhanced: '4.7.1', text: 'Rate limit exceeded, try again later' },

  // SMTPUTF8 (RFC 6531 3.4 / 3.7.4.1): a UTF-8 mailbox needs MAIL FROM ... SMTPUTF8 (Postfix's words);
  // one not in Unicode NFC (RFC 6532 3.1) is a second spelling of another mailbox, refused alike.
  'mail.utf8_undeclared': { code: 553, enhanced: '5.6.7', text: 'Must declare SMTPUTF8 to send unicode address' },
  'rcpt.utf8_undeclared': { code: 553, enhanced: '5.6.7', text: 'Must declare SMTPUTF8 to send unicode address' },
  'mail.utf8_not_nfc': { code: 553, enhanced: '5.6.7', text: 'Unicode address must be in normalization form C' },
  'rcpt.utf8_not_nfc': { code: 553, enhanced: '5.6.7', text: 'Unicode address must be in normalization form C' },

  // MAIL/RCPT parameters (src/smtp/extensions.ts): not offered to this session, or malformed.
  // The argument is the parameter keyword ([A-Za-z0-9-] only).
  'param.not_offered': { code: 555, enhanced: '5.5.4', text: (keyword: string) => `Unsupported option: ${keyword}` },
  'param.malformed': { code: 501, enhanced: '5.5.4', text: (keyword: string) => `Bad ${keyword} parameter syntax` },

  // rcpt: strict address parsing (a routing trick is 550 5.7.1, syntax 553 5.1.3)
  'rcpt.bad_address': { code: 553, enhanced: '5.1.3', text: 'Bad recipient address syntax' },
  'rcpt.source_route': { code: 550, enhanced: '5.7.1', text: 'Source routes are not accepted' },
  'rcpt.multiple_at': { code: 550, enhanced: '5.7.1', text: 'Address routing is not accepted' },
  'rcpt.quoted_route': { code: 550, enhanced: '5.7.1', text: 'Address routing is not accepted' },
  'rcpt.percent_hack': { code: 550, enhanced: '5.7.1', text: 'Address routing (%) is not accepted' },
  'rcpt.bang_path': { code: 550, enhanced: '5.7.1', text: 'Address routing (!) is not accepted' },
  'rcpt.address_literal': { code: 550, enhanced: '5.7.1', text: 'Address literal is not one of ours' },
  // One of our own literals: the next hop could not read it (the mail would loop back to us).
  'rcpt.address_literal:ours': { code: 550, enhanced: '5.7.1', text: 'Address literals are not accepted here, use a domain name' },
  // A local domain verified by policies/recipients, and the address is not listed there.
  'rcpt.unknown_user': { code: 550, enhanced: '5.1.1', text: (rcpt: string) => `<${rcpt}>: Recipient address rejected: User unknown` },
  // Live verification (recipient_verification): the next hop could not say yet. Never a 5xx, never a 250.
  'rcpt.unverified': { code: 450, enhanced: '4.1.1', text: (rcpt: string) => `<${rcpt}>: Recipient address rejected: unverified address: Address verification in progress` },
  'rcpt.unverified:failed': { code: 450, enhanced: '4.1.1', text: (rcpt: string) => `<${rcpt}>: Recipient address rejected: unverified address: Address verification failed temporarily, try again later` },
  'relay.denied': { code: 554, enhanced: '5.7.1', text: (rcpt: string) => `<${rcpt}>: Relay access denied` },
  'rcpt.too_many': { code: 452, enhanced: '4.5.3', text: 'Too many recipients' },
  'rcpt.rate': { code: 450, enhanced: '4.7.1', text: 'Rate limit exceeded, try again later' },
  'quota.exceeded': { code: 450, enhanced: '4.7.1', text: 'Rate limit exceeded, try again later' },
  // DNSBL texts name the client and the zones (dnsbl-rule.ts builds them).
  'dnsbl.listed': { code: 554, enhanced: '5.7.1', text: (text: string) => text },
  'rhsbl.listed': { code: 554, enhanced: '5.7.1', text: (text: string) => text },
  'dnsbl.temp_fail': { code: 451, enhanced: '4.7.1', text: (text: string) => text },

  // data (end of data): the one success reply in the table, since it carries the queue id
  'data.queued': { code: 250, enhanced: '2.0.0', text: (queueId: string) => `Ok: queued as ${queueId}` },
  'data.size_exceeded': { code: 552, enhanced: '5.3.4', text: 'Message size exceeds fixed maximum message size' },
  'data.bare_line_ending': { code: 550, enhanced: '5.6.0', text: 'Message contains bare CR or LF line endings (see RFC 5321 2.3.8)' },
  'data.bad_content': { code: 550, enhanced: '5.6.0', text: 'Message refused' },
  'data.bad_content:nul': { code: 550, enhanced: '5.6.0', text: 'Message contains NUL characters' },
  'data.bad_content:line_length': { code: 550, enhanced: '5.6.0', text: 'Message contains a line longer than the limit (see RFC 5321 4.5.3.1.6)' },
  // The spool could not take the message: the same words as any local error.
  'data.spool_error': { code: 451, enhanced: '4.3.0', text: LOCAL_ERROR },

  // protocol
  'proto.too_many_errors': { code: 421, enhanced: '4.7.0', text: 'Too many errors, closing connection' },
  'proto.timeout': { code: 421, enhanced: '4.4.2', text: 'Connection time limit exceeded, closing' },
  'proto.line_too_long': { code: 500, enhanced: '5.5.2', text: 'Line too long' },
  'proto.bad_command': { code: 500, enhanced: '5.5.2', text: 'NUL character in command' },
  // A command line that is not valid UTF-8 (Postfix with smtputf8_enable): refused, never decoded into U+FFFD.
  'proto.bad_utf8': { code: 500, enhanced: '5.5.2', text: 'Error: bad UTF-8 syntax' },
  // smtp.forbid_unauth_pipelining: Postfix's words for the same refusal; the connection is closed.
  'proto.pipelining': { code: 554, enhanced: '5.5.0', text: 'Error: SMTP protocol synchronization' },
  // VRFY and EXPN (Postfix's disable_vrfy_command = yes): neither may tell a stranger which addresses exist.
  'proto.command_disabled': { code: 502, enhanced: '5.5.1', text: (command: string) => `${command} command is disabled` },
  'proto.syntax': { code: 501, enhanced: '5.5.4', text: (usage: string) => `Syntax: ${usage}` },
  // Draining for shutdown: a new or idle connection, then whatever is left after the grace period.
  'proto.shutdown': { code: 421, enhanced: '4.3.2', text: 'Service shutting down, try again later' },
  'proto.shutdown:closing': { code: 421, enhanced: '4.3.2', text: 'Service shutting down, closing connection' },

  // The Postfix policy service: a request past [policy_service] request_timeout. On the wire it is
  // "action=DEFER_IF_PERMIT Service temporarily unavailable" (Postfix answers its client 450 4.7.1 with
  // this text if nothing else rejects); this entry is what the decision log shows.
  'policy_service.timeout': { code: 451, enhanced: '4.3.0', text: 'Service temporarily unavailable' },
} as const satisfies Record<string, Entry>;

export type ReplyKey = keyof typeof TABLE;
type NeedsArg = { [K in ReplyKey]: (typeof TABLE)[K]['text'] extends string ? never : K }[ReplyKey];
type Fixed = Exclude<ReplyKey, NeedsArg>;

// Every key names a reason code (before any ":variant").
type ReasonOf<K extends string> = K extends `${infer R}:${string}` ? R : K;
const checkKeys: ReasonOf<ReplyKey> extends ReasonCode ? true : never = true;
void checkKeys;

/** The reply of a reason (or of one of its variants). */
export function replyFor(key: Fixed): Reply;
export function replyFor(key: NeedsArg, arg: string): Reply;
export function replyFor(key: ReplyKey, arg = ''): Reply {
  const entry: Entry = TABLE[key];
  return { code: entry.code, enhanced: entry.enhanced, text: typeof entry.text === 'string' ? entry.text : entry.text(arg) };
}

/** The text after the code, as smtp-server's send(code, text) wants it: "5.7.1 text". */
export function replyText(reply: Reply): string {
  return `${reply.enhanced} ${reply.text}`;
}

/** smtp-server's send(code, text) arguments for a fixed reply. */
export function sendArgs(key: Fixed): [number, string] {
  const reply = replyFor(key);
  return [reply.code, replyText(reply)];
}

/** Every entry, for documentation and tests. */
export function replyTable(): ReadonlyArray<{ readonly key: ReplyKey; readonly code: number; readonly enhanced: string }> {
  return (Object.keys(TABLE) as ReplyKey[]).map((key) => ({ key, code: TABLE[key].code, enhanced: TABLE[key].enhanced }));
}

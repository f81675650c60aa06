// PURE. Strict RFC 5321 parsing of the path after "MAIL FROM:" / "RCPT TO:"
// ("<local@domain> PARAMS"), or of the bare address smtp-server hands over.
// Returns a normalised Mailbox (local part as given, domain normalised by
// address-domain.ts) or a typed refusal. Every routing trick the open-relay
// testers of old used is a refusal here, before any relay decision:
//   @a,@b:user@c        source route           user@foreign@local   two @
//   "user@foreign"@local quoted routing        user%foreign@local   % hack (local domains)
//   foreign!user@local  bang path (local)      user@[1.2.3.4]       literal not ours
// Recipient literals are accepted only for our own addresses; sender literals
// may be any IP (a printer on the office LAN says scanner@[192.168.1.5]).
// `%` and `!` are refused when the domain is ours (our backend might route on
// them); for a foreign domain they are that domain's business, and only a
// client already allowed to relay ever gets that far.
import { MAX_DOMAIN_OCTETS, parseDomain, type DomainProblem } from './address-domain.ts';

export type AddressProblem =
  | DomainProblem
  | 'control_char'
  | 'null_recipient'
  | 'source_route'
  | 'multiple_at'
  | 'quoted_route'
  | 'percent_hack'
  | 'bang_path'
  | 'literal_not_ours'
  | 'not_nfc';

export interface Mailbox {
  readonly kind: 'mailbox';
  /** Local part exactly as given (quotes and escapes kept). */
  readonly local: string;
  /** Local part with quoting removed, for comparisons (sender ownership). */
  readonly localText: string;
  readonly quoted: boolean;
  /** Lower-case A-label domain without trailing dot, or "[192.0.2.1]" / "[IPv6:2001:db8::1]". */
  readonly domain: string;
  /** The canonical IP when the domain is an address literal. */
  readonly literal?: string;
  /** local@domain, normalised: what goes into the envelope we store and log. */
  readonly address: string;
  /** Set when the client wrote the domainless `<postmaster>` (any case) and this is the address it stands for. */
  readonly barePostmaster?: true;
  /**
   * The mailbox as written has non-ASCII characters (a UTF-8 local part or a
   * U-label domain): it may only be used in a transaction that declared
   * SMTPUTF8 (RFC 6531 3.4).
   */
  readonly utf8?: true;
}

export interface NullSender {
  readonly kind: 'null';
  readonly address: '';
}

export type Sender = Mailbox | NullSender;

export interface AddressRefusal {
  readonly problem: AddressProblem;
  /** For logs and `explain`; never echoes the raw input. */
  readonly message: string;
}

export type PathResult<T> =
  | { readonly ok: true; readonly value: T; readonly params: readonly string[] }
  | { readonly ok: false; readonly refusal: AddressRefusal };

export interface AddressOptions {
  /** Our own IP addresses, canonical (normalizeIp); recipient literals must be one of them. */
  readonly ourAddresses: ReadonlySet<string>;
  /** Local domains (normalised names); `%` and `!` routing is refused for them. */
  readonly localDomains: { has(domain: string): boolean };
  /** Domain for the domainless `RCPT TO:<postmaster>` RFC 5321 4.5.1 requires; absent = refused. */
  readonly postmasterDomain?: string;
  /**
   * The whole address the domainless `<postmaster>` is delivered to (config.toml `postmaster`);
   * takes precedence over postmasterDomain. Parsed like any recipient.
   */
  readonly postmasterAddress?: string;
}

export const MAX_LOCAL_OCTETS = 64;
/** RFC 5321 4.5.3.1.3: the path, "<" and ">" included. */
export const MAX_PATH_OCTETS = 256;
const MAX_INPUT_CHARS = 1024;

// C0, DEL, C1 and the invisible formatting characters used to hide or spoof
// text (soft hyphen, zero-width space, bidi overrides, BOM). ZWNJ/ZWJ stay:
// some scripts need them in IDNs.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]/u;
const ATEXT = "A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~\\u0080-\\u{10FFFF}";
const DOT_STRING = new RegExp(`^[${ATEXT}]+(?:\\.[${ATEXT}]+)*$`, 'u');
const ESMTP_PARAM = /^[A-Za-z0-9][A-Za-z0-9-]*(?:=[\x21-\x3c\x3e-\x7e\u0080-\u{10FFFF}]+)?$/u;
const encoder = new TextEncoder();

const refuse = (problem: AddressProblem, message: string): { ok: false; refusal: AddressRefusal } => ({
  ok: false,
  refusal: { problem, message },
});

/** MAIL FROM: a Mailbox or the null sender `<>` (bounces). */
export function parseSender(text: string, options: AddressOptions): PathResult<Sender> {
  const split = splitPath(text);
  if (!split.ok) return split;
  if (split.path === '') return { ok: true, value: { kind: 'null', address: '' }, params: split.params };
  if (!isNfc(split.path)) return refuse('not_nfc', 'UTF-8 address not in normalization form C');
  const mailbox = parseMailbox(split.path, 'sender', options);
  return mailbox.ok ? { ok: true, value: mailbox.value, params: split.params } : mailbox;
}

/** RCPT TO: a Mailbox; never null. */
export function parseRecipient(text: string, options: AddressOptions): PathResult<Mailbox> {
  const split = splitPath(text);
  if (!split.ok) return split;
  if (split.path === '') return refuse('null_recipient', 'empty recipient <>');
  if (!isNfc(split.path)) return refuse('not_nfc', 'UTF-8 address not in normalization form C');
  const mailbox = parseMailbox(split.path, 'recipient', options);
  return mailbox.ok ? { ok: true, value: mailbox.value, params: split.params } : mailbox;
}

type Split = { ok: true; path: string; params: readonly string[] } | { ok: false; refusal: AddressRefusal };

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

/** "<path> PARAMS" or a bare path -> the path between the brackets and the parameters. */
function splitPath(input: string): Split {
  if (input.length > MAX_INPUT_CHARS) return refuse('too_long', 'address text too long');
  if (UNSAFE.test(input)) return refuse('control_char', 'control or invisible character in address');
  // "MAIL FROM: <a@b>" (a space after the colon) is common and harmless.
  const text = input.replace(/^ +| +$/g, '');
  if (!text.startsWith('<')) {
    if (/[\s<>]/.test(unquotedOnly(text))) return refuse('syntax', 'bare address with spaces or brackets');
    return { ok: true, path: text, params: [] };
  }
  const end = closingBracket(text);
  if (end < 0) return refuse('syntax', 'unterminated <path>');
  const rest = text.slice(end + 1);
  if (rest !== '' && !rest.startsWith(' ')) return refuse('syntax', 'text after <path>');
  const params = rest.split(' ').filter((p) => p !== '');
  if (!params.every((p) => ESMTP_PARAM.test(p))) return refuse('syntax', 'invalid parameter after <path>');
  return { ok: true, path: text.slice(1, end), params };
}

/**
 * RFC 6532 3.1 (via RFC 6531 3.3): UTF-8 in addresses is NFC. Another
 * normalisation of the same characters would be a second spelling of one
 * mailbox to every comparison made on it (recipient lists, sender
 * ownership), so it is refused rather than normalised behind the client's back.
 */
function isNfc(path: string): boolean {
  return !NON_ASCII.test(path) || path.normalize('NFC') === path;
}

/** Index of the ">" closing the path, skipping quoted strings; -1 if none or a stray "<". */
function closingBracket(text: string): number {
  let quoted = false;
  for (let i = 1; i < text.length; i += 1) {
    const c = text[i];
    if (quoted && c === '\\') i += 1;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === '>') return i;
    else if (!quoted && c === '<') return -1;
  }
  return -1;
}

/** The text with quoted strings blanked out, to look for structure characters. */
function unquotedOnly(text: string): string {
  return text.replace(/"(?:[^"\\]|\\.)*"?/g, '""');
}

type MailboxResult = { ok: true; value: Mailbox } | { ok: false; refusal: AddressRefusal };

function parseMailbox(path: string, role: 'sender' | 'recipient', options: AddressOptions): MailboxResult {
  if (path.startsWith('@')) {
    return path.includes(':') ? refuse('source_route', 'source route (@host,@host:mailbox)') : refuse('syntax', 'no local part');
  }
  const local = readLocal(path);
  if (!local.ok) return local;
  const domainText = path.slice(local.raw.length + 1);
  if (local.raw.length < path.length && path[local.raw.length] !== '@') return refuse('syntax', 'text after quoted local part');
  if (local.raw.length === path.length) {
    if (role === 'recipient' && /^postmaster$/i.test(path)) {
      if (options.postmasterAddress !== undefined) return barePostmaster(options.postmasterAddress, options);
      if (options.postmasterDomain) return finish(path, path, false, options.postmasterDomain, role, options);
    }
    return refuse('missing_domain', 'no @domain');
  }
  if (domainText.includes('@')) return refuse('multiple_at', 'more than one @ (user@host@domain)');
  if (local.quoted) {
    if (local.text === '') return refuse('syntax', 'empty quoted local part');
    if (/[@%!]/.test(local.text)) return refuse('quoted_route', 'quoted local part hides @, % or !');
  } else if (!DOT_STRING.test(local.raw)) {
    return refuse('syntax', 'invalid local part');
  }
  return finish(local.raw, local.text, local.quoted, domainText, role, options);
}

/** The configured postmaster address, marked as what a bare `<postmaster>` stands for. */
function barePostmaster(address: string, options: AddressOptions): MailboxResult {
  const parsed = parseMailbox(address, 'recipient', { ...options, postmasterAddress: undefined, postmasterDomain: undefined });
  return parsed.ok ? { ok: true, value: { ...parsed.value, barePostmaster: true } } : parsed;
}

type Local = { ok: true; raw: string; text: string; quoted: boolean } | { ok: false; refusal: AddressRefusal };

/** The local part: a quoted string (RFC 5321 QcontentSMTP) or everything up to the first "@". */
function readLocal(path: string): Local {
  if (!path.startsWith('"')) {
    const at = path.indexOf('@');
    const raw = at < 0 ? path : path.slice(0, at);
    return { ok: true, raw, text: raw, quoted: false };
  }
  let text = '';
  for (let i = 1; i < path.length; i += 1) {
    const c = path[i] as string;
    if (c === '"') return { ok: true, raw: path.slice(0, i + 1), text, quoted: true };
    if (c === '\\') {
      const next = path[i + 1];
      if (next === undefined || next < ' ' || next > '~') return refuse('syntax', 'invalid quoted pair');
      text += next;
      i += 1;
    } else {
      text += c; // qtextSMTP: printable ASCII but " and \, plus UTF-8 (RFC 6531); controls refused earlier
    }
  }
  return refuse('syntax', 'unterminated quoted local part');
}

function finish(
  local: string,
  localText: string,
  quoted: boolean,
  domainText: string,
  role: 'sender' | 'recipient',
  options: AddressOptions,
): MailboxResult {
  const domain = parseDomain(domainText);
  if (!domain.ok) {
    // "[tag:content]" is grammatical but never ours: a relay trick for recipients, nonsense for senders.
    if (domain.problem === 'literal_unsupported') {
      return role === 'recipient' ? refuse('literal_not_ours', domain.message) : refuse('syntax', domain.message);
    }
    return refuse(domain.problem, domain.message);
  }
  if (encoder.encode(local).length > MAX_LOCAL_OCTETS) return refuse('too_long', `local part longer than ${MAX_LOCAL_OCTETS} octets`);
  if (domain.domain.length > MAX_DOMAIN_OCTETS) return refuse('too_long', `domain longer than ${MAX_DOMAIN_OCTETS} octets`);
  const address = `${local}@${domain.domain}`;
  if (encoder.encode(address).length + 2 > MAX_PATH_OCTETS) return refuse('too_long', `path longer than ${MAX_PATH_OCTETS} octets`);
  const literal = domain.kind === 'literal' ? domain.ip : undefined;
  const ours = literal !== undefined && options.ourAddresses.has(literal);
  if (literal !== undefined && role === 'recipient' && !ours) return refuse('literal_not_ours', 'address literal is not one of our addresses');
  if (!quoted && (ours || options.localDomains.has(domain.domain))) {
    if (localText.includes('%')) return refuse('percent_hack', '% routing in the local part of a local address');
    if (localText.includes('!')) return refuse('bang_path', '! (UUCP) routing in the local part of a local address');
  }
  const plain = { kind: 'mailbox', local, localText, quoted, domain: domain.domain, address } as const;
  const base = NON_ASCII.test(local) || NON_ASCII.test(domainText) ? { ...plain, utf8: true as const } : plain;
  return { ok: true, value: literal === undefined ? base : { ...base, literal } };
}


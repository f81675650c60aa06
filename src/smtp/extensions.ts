// PURE. The one table of ESMTP extensions (issue 21): what each listener
// offers in its EHLO reply, in which session state, and which MAIL FROM /
// RCPT TO parameters each extension brings. The same table drives the EHLO
// reply (relay-smtp-server.ts keeps only the lines whose keyword is offered)
// and the parameter parser below, so a parameter is accepted exactly when the
// extension it belongs to was advertised to this session, and honoured: its
// value is validated strictly and stored with the message (src/spool/types.ts
// Envelope.esmtp / Envelope.recipientDsn) for delivery to act on.
//
// Refusals, as Postfix answers them:
//   unknown keyword, or one of an extension not offered here -> 555 5.5.4
//   a value that breaks its grammar, or a parameter given twice -> 501 5.5.4
// (RFC 5321 4.1.1.11: 555 "MAIL FROM/RCPT TO parameters not recognized or
// not implemented"; RFC 3463 5.5.4 "invalid command arguments").
import type { EsmtpParameters, RecipientDsn } from '../spool/types.ts';

/** What decides whether an extension is offered: the listener and the session's state. */
export interface OfferContext {
  /** The listener offers STARTTLS (tls = "starttls"). */
  readonly starttlsListener: boolean;
  /** The session is encrypted (implicit TLS, or after STARTTLS). */
  readonly tls: boolean;
  /** The listener offers AUTH (submission, or auth = true). */
  readonly authOffered: boolean;
}

export type ExtensionKeyword =
  | 'PIPELINING'
  | '8BITMIME'
  | 'SMTPUTF8'
  | 'ENHANCEDSTATUSCODES'
  | 'DSN'
  | 'SIZE'
  | 'STARTTLS'
  | 'AUTH'
  | 'CHUNKING'
  | 'BINARYMIME'
  | 'REQUIRETLS';

export interface ExtensionRow {
  readonly keyword: ExtensionKeyword;
  /** The RFC that defines it. */
  readonly rfc: string;
  /** Advertised in this state (false for every state when we cannot honour it). */
  readonly offered: (ctx: OfferContext) => boolean;
  /** MAIL FROM parameters this extension brings. */
  readonly mailParams: readonly string[];
  /** RCPT TO parameters this extension brings. */
  readonly rcptParams: readonly string[];
  /** Why, for the docs (README's ESMTP table is written from these). */
  readonly note: string;
}

const always = (): boolean => true;
const never = (): boolean => false;

export const EXTENSIONS: readonly ExtensionRow[] = [
  { keyword: 'PIPELINING', rfc: 'RFC 2920', offered: always, mailParams: [], rcptParams: [], note: 'smtp-server reads commands in groups; forbid_unauth_pipelining polices the group enders' },
  { keyword: '8BITMIME', rfc: 'RFC 6152', offered: always, mailParams: ['BODY'], rcptParams: [], note: 'BODY=7BIT|8BITMIME stored as envelope.esmtp.body' },
  { keyword: 'SMTPUTF8', rfc: 'RFC 6531', offered: always, mailParams: ['SMTPUTF8'], rcptParams: [], note: 'UTF-8 mailboxes only in a transaction that declared it; stored as envelope.esmtp.smtputf8' },
  { keyword: 'ENHANCEDSTATUSCODES', rfc: 'RFC 2034', offered: always, mailParams: [], rcptParams: [], note: 'every reply carries one' },
  { keyword: 'DSN', rfc: 'RFC 3461', offered: always, mailParams: ['RET', 'ENVID'], rcptParams: ['NOTIFY', 'ORCPT'], note: 'stored as envelope.esmtp.ret/envid and envelope.recipientDsn' },
  { keyword: 'SIZE', rfc: 'RFC 1870', offered: always, mailParams: ['SIZE'], rcptParams: [], note: 'SIZE=n over smtp.max_message_size is refused at MAIL' },
  { keyword: 'STARTTLS', rfc: 'RFC 3207', offered: (ctx) => ctx.starttlsListener && !ctx.tls, mailParams: [], rcptParams: [], note: 'on tls = "starttls" listeners, before TLS only' },
  // AUTH= on MAIL FROM (RFC 4954 5): accepted where AUTH is offered and
  // validated, not passed on: RFC 4954 lets a server that does not trust the
  // asserted identity act as if it were <>, which is what we do.
  { keyword: 'AUTH', rfc: 'RFC 4954', offered: (ctx) => ctx.authOffered && ctx.tls, mailParams: ['AUTH'], rcptParams: [], note: 'only over TLS on listeners that offer AUTH; MAIL AUTH= is validated, not passed on' },
  // smtp-server 3.21.6 has no BDAT command: CHUNKING (and BINARYMIME, which needs it) cannot be honoured.
  { keyword: 'CHUNKING', rfc: 'RFC 3030', offered: never, mailParams: [], rcptParams: [], note: 'not offered: smtp-server has no BDAT' },
  { keyword: 'BINARYMIME', rfc: 'RFC 3030', offered: never, mailParams: [], rcptParams: [], note: 'not offered: needs CHUNKING' },
  // REQUIRETLS (RFC 8689 2, 4.1): offered only in a TLS session (after
  // STARTTLS, or on an implicit-TLS listener), so in clear the parameter is
  // an unadvertised one: 555 5.5.4 like any other (not 530 5.7.10: the client
  // asked for something we never offered; RFC 5321 4.1.1.11). Stored as
  // envelope.esmtp.requiretls; delivery (deliver-job.ts) then goes only at TLS
  // level verify and only through hops that offer REQUIRETLS (the last hop
  // excepted), else fails the recipient with 5.7.10.
  { keyword: 'REQUIRETLS', rfc: 'RFC 8689', offered: (ctx) => ctx.tls, mailParams: ['REQUIRETLS'], rcptParams: [], note: 'after STARTTLS / on implicit TLS only; delivered only at TLS level verify, through hops that offer it' },
];

const BY_MAIL_PARAM = new Map<string, ExtensionRow>();
const BY_RCPT_PARAM = new Map<string, ExtensionRow>();
for (const row of EXTENSIONS) {
  for (const param of row.mailParams) BY_MAIL_PARAM.set(param, row);
  for (const param of row.rcptParams) BY_RCPT_PARAM.set(param, row);
}

/** The extensions this session is offered now. */
export function offeredExtensions(ctx: OfferContext): ReadonlySet<ExtensionKeyword> {
  return new Set(EXTENSIONS.filter((row) => row.offered(ctx)).map((row) => row.keyword));
}

/**
 * smtp-server's hide* options, from the table: what it would advertise in
 * any state of this listener. The per-session cut (STARTTLS after TLS, AUTH
 * before it) is made on the EHLO reply itself (ehloLineOffered).
 */
export function smtpServerHideOptions(): {
  hidePIPELINING: boolean;
  hide8BITMIME: boolean;
  hideSMTPUTF8: boolean;
  hideENHANCEDSTATUSCODES: boolean;
  hideDSN: boolean;
  hideREQUIRETLS: boolean;
} {
  const everOffered = (keyword: ExtensionKeyword): boolean => {
    const row = EXTENSIONS.find((r) => r.keyword === keyword) as ExtensionRow;
    // Every combination of the three booleans.
    for (let bits = 0; bits < 8; bits++) {
      if (row.offered({ starttlsListener: (bits & 1) !== 0, tls: (bits & 2) !== 0, authOffered: (bits & 4) !== 0 })) return true;
    }
    return false;
  };
  return {
    hidePIPELINING: !everOffered('PIPELINING'),
    hide8BITMIME: !everOffered('8BITMIME'),
    hideSMTPUTF8: !everOffered('SMTPUTF8'),
    hideENHANCEDSTATUSCODES: !everOffered('ENHANCEDSTATUSCODES'),
    hideDSN: !everOffered('DSN'),
    hideREQUIRETLS: !everOffered('REQUIRETLS'),
  };
}

/** Whether one line of smtp-server's EHLO reply (after the greeting line) names an offered extension. */
export function ehloLineOffered(line: string, offered: ReadonlySet<ExtensionKeyword>): boolean {
  const keyword = line.trim().split(/\s+/)[0]?.toUpperCase() ?? '';
  return offered.has(keyword as ExtensionKeyword);
}

// ---------------------------------------------------------------- parameters

export type ParamProblem = 'not_offered' | 'malformed';

export interface ParamRefusal {
  readonly ok: false;
  readonly problem: ParamProblem;
  /** The parameter keyword, upper case, as sent (only [A-Za-z0-9-], so safe to quote). */
  readonly keyword: string;
  /** For the log. */
  readonly message: string;
}

export interface MailParams {
  readonly ok: true;
  /** What travels with the message (empty object when nothing does). */
  readonly esmtp: EsmtpParameters;
  /** SIZE=, when declared. */
  readonly size?: number;
}

export interface RcptParams {
  readonly ok: true;
  /** null when this RCPT carried no DSN parameter. */
  readonly dsn: RecipientDsn | null;
}

const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
/** RFC 3461 4: xtext = *( xchar / hexchar ); xchar is "!" to "~" but "+" and "="; hexchar is "+" and two upper-case hex digits. */
const XTEXT = /^(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*$/;
/** RFC 3461 4.4: an ENVID is at most 100 characters (we count them decoded). */
export const MAX_ENVID = 100;
/** RFC 3461 4.2: an ORCPT parameter is at most 500 characters. */
export const MAX_ORCPT = 500;
const NOTIFY_VALUES = new Set(['SUCCESS', 'FAILURE', 'DELAY']);

const notOffered = (keyword: string, message: string): ParamRefusal => ({ ok: false, problem: 'not_offered', keyword, message });
const malformed = (keyword: string, message: string): ParamRefusal => ({ ok: false, problem: 'malformed', keyword, message });

/** Decodes RFC 3461 xtext; undefined when it is not xtext. */
export function decodeXtext(value: string): string | undefined {
  if (!XTEXT.test(value)) return undefined;
  return value.replace(/\+([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

type Split = { ok: true; params: Array<{ keyword: string; value: string | undefined }> } | ParamRefusal;

/** " KEY[=value]..." -> keywords (upper case) and raw values; a keyword given twice is malformed. */
function splitParams(text: string): Split {
  const params: Array<{ keyword: string; value: string | undefined }> = [];
  const seen = new Set<string>();
  for (const word of text.split(' ')) {
    if (word === '') continue;
    const eq = word.indexOf('=');
    const rawKeyword = eq < 0 ? word : word.slice(0, eq);
    if (!KEYWORD.test(rawKeyword)) return malformed(rawKeyword.replace(/[^A-Za-z0-9-]/g, '').slice(0, 20).toUpperCase(), 'parameter keyword syntax');
    const keyword = rawKeyword.toUpperCase();
    if (seen.has(keyword)) return malformed(keyword, 'parameter given twice');
    seen.add(keyword);
    params.push({ keyword, value: eq < 0 ? undefined : word.slice(eq + 1) });
  }
  return { ok: true, params };
}

/** The parameters after MAIL FROM:<path>, judged against what this session was offered. */
export function parseMailParams(text: string, offered: ReadonlySet<ExtensionKeyword>): MailParams | ParamRefusal {
  const split = splitParams(text);
  if (!split.ok) return split;
  let esmtp: { -readonly [K in keyof EsmtpParameters]: EsmtpParameters[K] } = {};
  let size: number | undefined;
  for (const { keyword, value } of split.params) {
    const row = BY_MAIL_PARAM.get(keyword);
    if (!row) return notOffered(keyword, 'unknown MAIL parameter');
    if (!offered.has(row.keyword)) return notOffered(keyword, `${row.keyword} is not offered in this session`);
    switch (keyword) {
      case 'SIZE':
        // RFC 1870: size-value ::= 1*20DIGIT
        if (value === undefined || !/^\d{1,20}$/.test(value)) return malformed(keyword, 'SIZE is not a number');
        size = Number(value);
        break;
      case 'BODY': {
        const body = value?.toUpperCase();
        if (body === 'BINARYMIME') return notOffered(keyword, 'BODY=BINARYMIME needs BINARYMIME, not offered');
        if (body !== '7BIT' && body !== '8BITMIME') return malformed(keyword, 'BODY is neither 7BIT nor 8BITMIME');
        esmtp = { ...esmtp, body };
        break;
      }
      case 'REQUIRETLS':
        // RFC 8689 2: no value. Offered only over TLS (the table), so reaching here means the session is encrypted.
        if (value !== undefined) return malformed(keyword, 'REQUIRETLS takes no value');
        esmtp = { ...esmtp, requiretls: true };
        break;
      case 'SMTPUTF8':
        if (value !== undefined) return malformed(keyword, 'SMTPUTF8 takes no value');
        esmtp = { ...esmtp, smtputf8: true };
        break;
      case 'RET': {
        const ret = value?.toUpperCase();
        if (ret !== 'FULL' && ret !== 'HDRS') return malformed(keyword, 'RET is neither FULL nor HDRS');
        esmtp = { ...esmtp, ret };
        break;
      }
      case 'ENVID': {
        const envid = value === undefined || value === '' ? undefined : decodeXtext(value);
        if (envid === undefined) return malformed(keyword, 'ENVID is not xtext');
        // RFC 3461 4.4: printable US-ASCII; a decoded CR/LF would split our log lines and DSNs.
        if (!/^[\x20-\x7e]+$/.test(envid)) return malformed(keyword, 'ENVID decodes to a control or non-ASCII character');
        if (envid.length > MAX_ENVID) return malformed(keyword, `ENVID longer than ${MAX_ENVID} characters`);
        esmtp = { ...esmtp, envid };
        break;
      }
      case 'AUTH': {
        // RFC 4954 5: AUTH=<> or AUTH=xtext(mailbox). Validated only (see the table).
        const auth = value === undefined || value === '' ? undefined : decodeXtext(value);
        if (auth === undefined || !/^[\x21-\x7e]+$/.test(auth)) return malformed(keyword, 'AUTH is not xtext');
        break;
      }
      default:
        // A parameter in the table that this parser does not know how to honour.
        return notOffered(keyword, `${keyword} cannot be honoured`);
    }
  }
  return size === undefined ? { ok: true, esmtp } : { ok: true, esmtp, size };
}

/**
 * The parameters after RCPT TO:<path>. `smtputf8`: the transaction declared
 * SMTPUTF8, so ORCPT may carry utf-8 addresses as UTF-8 (RFC 6533 3).
 */
export function parseRcptParams(text: string, offered: ReadonlySet<ExtensionKeyword>, smtputf8: boolean): RcptParams | ParamRefusal {
  const split = splitParams(text);
  if (!split.ok) return split;
  let dsn: { notify?: RecipientDsn['notify']; orcpt?: RecipientDsn['orcpt'] } | null = null;
  for (const { keyword, value } of split.params) {
    const row = BY_RCPT_PARAM.get(keyword);
    if (!row) return notOffered(keyword, 'unknown RCPT parameter');
    if (!offered.has(row.keyword)) return notOffered(keyword, `${row.keyword} is not offered in this session`);
    if (keyword === 'NOTIFY') {
      const notify = parseNotify(value);
      if (!notify) return malformed(keyword, 'NOTIFY is neither NEVER nor a list of SUCCESS, FAILURE, DELAY');
      dsn = { ...(dsn ?? {}), notify };
    } else {
      const orcpt = parseOrcpt(value, smtputf8);
      if (typeof orcpt === 'string') return malformed(keyword, orcpt);
      dsn = { ...(dsn ?? {}), orcpt };
    }
  }
  return { ok: true, dsn };
}

/** RFC 3461 4.1: NEVER alone, or a comma list of SUCCESS, FAILURE, DELAY (each once). */
function parseNotify(value: string | undefined): RecipientDsn['notify'] | undefined {
  if (value === undefined || value === '') return undefined;
  const items = value.toUpperCase().split(',');
  if (items.length === 1 && items[0] === 'NEVER') return ['NEVER'];
  if (new Set(items).size !== items.length) return undefined;
  if (!items.every((item) => NOTIFY_VALUES.has(item))) return undefined;
  return items as ('SUCCESS' | 'FAILURE' | 'DELAY')[];
}

/**
 * RFC 3461 4.2: ORCPT=addr-type ";" xtext. The rfc822 type decodes to a
 * printable ASCII address; utf-8 (RFC 6533 3) is utf-8-addr-xtext (ASCII with
 * \x{HEX} for every other character), or utf-8-addr-unitext (UTF-8 itself,
 * only in an SMTPUTF8 transaction); other registered types are kept
 * xtext-decoded. Returns the problem as a string.
 */
function parseOrcpt(value: string | undefined, smtputf8: boolean): NonNullable<RecipientDsn['orcpt']> | string {
  if (value === undefined || value === '') return 'ORCPT has no value';
  if (value.length > MAX_ORCPT) return `ORCPT longer than ${MAX_ORCPT} characters`;
  const semi = value.indexOf(';');
  if (semi <= 0) return 'ORCPT has no addr-type';
  const type = value.slice(0, semi).toLowerCase();
  if (!/^[a-z0-9][a-z0-9-]*$/.test(type)) return 'ORCPT addr-type syntax';
  const encoded = value.slice(semi + 1);
  if (encoded === '') return 'ORCPT has no address';
  if (type === 'utf-8') {
    const address = decodeUtf8Addr(encoded, smtputf8);
    return address ?? 'ORCPT utf-8 address syntax (RFC 6533)';
  }
  const decoded = decodeXtext(encoded);
  if (decoded === undefined) return 'ORCPT is not xtext';
  if (/^[\x21-\x7e]+$/.test(decoded)) return { type, address: decoded };
  // Postfix (3.7 at least) sends a UTF-8 recipient's ORCPT as rfc822 with the
  // UTF-8 bytes xtext-encoded (rfc822;zo+C3+AB@...), not as RFC 6533's utf-8
  // type. In an SMTPUTF8 transaction we take that when the bytes are valid
  // UTF-8 (NFC, no controls or spaces); never outside one (RFC 3461: ASCII).
  if (smtputf8) {
    const utf8 = strictUtf8(Buffer.from(decoded, 'latin1'));
    if (utf8 !== undefined && /^[\x21-\x7e\u00a0-\u{10FFFF}]+$/u.test(utf8) && utf8.normalize('NFC') === utf8) return { type, address: utf8 };
  }
  return 'ORCPT decodes to a control, space or non-ASCII character';
}

/** The bytes as UTF-8, or undefined when they are not valid UTF-8. */
function strictUtf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** RFC 6533 3: EmbeddedUnicodeChar is "\x{" 2-6 upper-case hex digits "}", a code point that is not ASCII printable except "+", "\" and "=". */
function decodeUtf8Addr(encoded: string, smtputf8: boolean): { type: 'utf-8'; address: string } | undefined {
  // QCHAR: printable ASCII but "+", "=" and "\" (which only starts an escape); unitext adds UTF-8 (not controls).
  const plain = smtputf8 ? /^[\x21-\x2a\x2c-\x3c\x3e-\x5b\x5d-\x7e\u00a0-\u{10FFFF}]$/u : /^[\x21-\x2a\x2c-\x3c\x3e-\x5b\x5d-\x7e]$/;
  let address = '';
  for (let i = 0; i < encoded.length; ) {
    const escape = /^\\x\{([0-9A-F]{2,6})\}/.exec(encoded.slice(i));
    if (escape) {
      const code = parseInt(escape[1] as string, 16);
      const asciiAllowed = code === 0x2b || code === 0x5c || code === 0x3d;
      if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff) || (code < 0x80 && !asciiAllowed) || (code >= 0x80 && code < 0xa0)) return undefined;
      address += String.fromCodePoint(code);
      i += escape[0].length;
      continue;
    }
    const char = String.fromCodePoint(encoded.codePointAt(i) as number);
    if (!plain.test(char)) return undefined;
    address += char;
    i += char.length;
  }
  return address.normalize('NFC') === address ? { type: 'utf-8', address } : undefined;
}

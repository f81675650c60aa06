// PURE. What one transaction may say to one next hop, given what it
// offered in its EHLO reply (issue 21, delivery side):
// - SMTPUTF8 (RFC 6531) is sent when the transaction needs it (the client
//   declared it, or an envelope address is not ASCII) and the hop offers it.
//   A hop without it gets ASCII addresses only: a UTF-8 domain with an ASCII
//   local part goes out in A-label form (xn--...); a UTF-8 local part cannot
//   be sent, so that recipient fails with 5.6.7 (all of them when it is the
//   sender's). A message whose addresses are ASCII and only whose headers
//   are UTF-8 is sent without SMTPUTF8, as Postfix does.
// - DSN (RFC 3461): RET/ENVID on MAIL FROM and NOTIFY/ORCPT on each RCPT go
//   to a hop that offers DSN, encoded as xtext (RFC 3461 4) or, for a utf-8
//   ORCPT, utf-8-addr-xtext (RFC 6533 3).
import { domainToASCII } from 'node:url';
import type { EsmtpParameters, RecipientDsn } from '../spool/types.ts';

/** The extensions of a next hop that decide how a transaction is sent. */
export interface HopExtensions {
  readonly smtputf8: boolean;
  readonly eightBitMime: boolean;
  readonly dsn: boolean;
}

export function hopExtensions(keywords: readonly string[]): HopExtensions {
  const offered = new Set(keywords.map((k) => k.toUpperCase()));
  return { smtputf8: offered.has('SMTPUTF8'), eightBitMime: offered.has('8BITMIME'), dsn: offered.has('DSN') };
}

// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/;
export const isAscii = (text: string): boolean => ASCII.test(text);

/** The address as a hop without SMTPUTF8 can take it, or undefined when its local part is not ASCII. */
export function asciiAddress(address: string): string | undefined {
  if (isAscii(address)) return address;
  const at = address.lastIndexOf('@');
  if (at < 0) return undefined;
  const local = address.slice(0, at);
  if (!isAscii(local)) return undefined;
  const domain = domainToASCII(address.slice(at + 1));
  return domain === '' ? undefined : `${local}@${domain}`;
}

export interface AddressPlan {
  /** Declare SMTPUTF8 on MAIL FROM. */
  readonly smtputf8: boolean;
  /** The sender as sent; undefined when it cannot be sent to this hop (every recipient fails 5.6.7). */
  readonly sender: string | undefined;
  /** Recipients that can go, original address to the form sent. */
  readonly recipients: ReadonlyMap<string, string>;
  /** Recipients that cannot go to this hop (5.6.7). */
  readonly refused: readonly string[];
}

export function planAddresses(sender: string, recipients: readonly string[], esmtp: EsmtpParameters | undefined, hop: HopExtensions): AddressPlan {
  const needs = esmtp?.smtputf8 === true || !isAscii(sender) || recipients.some((r) => !isAscii(r));
  if (hop.smtputf8) return { smtputf8: needs, sender, recipients: new Map(recipients.map((r) => [r, r])), refused: [] };
  const wireSender = asciiAddress(sender);
  if (wireSender === undefined) return { smtputf8: false, sender: undefined, recipients: new Map(), refused: [...recipients] };
  const wire = new Map<string, string>();
  const refused: string[] = [];
  for (const r of recipients) {
    const ascii = asciiAddress(r);
    if (ascii === undefined) refused.push(r);
    else wire.set(r, ascii);
  }
  return { smtputf8: false, sender: wireSender, recipients: wire, refused };
}

/** xtext (RFC 3461 4): "+" and "=" and anything outside "!".."~" as +HH (UTF-8 bytes). */
export function xtext(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    out += byte >= 0x21 && byte <= 0x7e && byte !== 0x2b && byte !== 0x3d ? String.fromCharCode(byte) : `+${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** utf-8-addr-xtext (RFC 6533 3): QCHARs as they are, anything else as \x{HEX}. */
export function utf8AddrXtext(value: string): string {
  let out = '';
  for (const ch of value) {
    const cp = ch.codePointAt(0) as number;
    const qchar = cp >= 0x21 && cp <= 0x7e && cp !== 0x2b && cp !== 0x3d && cp !== 0x5c;
    out += qchar ? ch : `\\x{${cp.toString(16).toUpperCase()}}`;
  }
  return out;
}

/** " NOTIFY=... ORCPT=..." for one RCPT TO to a hop that offers DSN ("" when there is nothing to say). */
export function rcptDsnParameters(dsn: RecipientDsn | null | undefined): string {
  if (!dsn) return '';
  let out = '';
  if (dsn.notify && dsn.notify.length > 0) out += ` NOTIFY=${dsn.notify.join(',')}`;
  if (dsn.orcpt) {
    const utf8 = dsn.orcpt.type.toLowerCase() === 'utf-8';
    out += ` ORCPT=${dsn.orcpt.type};${utf8 ? utf8AddrXtext(dsn.orcpt.address) : xtext(dsn.orcpt.address)}`;
  }
  return out;
}

/** The MAIL FROM parameters this module adds (nodemailer adds SIZE, BODY=8BITMIME and, for UTF-8 addresses, SMTPUTF8). */
export function mailParameters(esmtp: EsmtpParameters | undefined, plan: Pick<AddressPlan, 'smtputf8'>, hop: HopExtensions): string[] {
  const params: string[] = [];
  if (plan.smtputf8) params.push('SMTPUTF8');
  if (hop.dsn && esmtp?.ret) params.push(`RET=${esmtp.ret}`);
  if (hop.dsn && esmtp?.envid !== undefined) params.push(`ENVID=${xtext(esmtp.envid)}`);
  return params;
}

// PURE. RFC 3464 delivery status notifications: multipart/report with a
// human-readable part, message/delivery-status (per-message fields, then one
// block per recipient) and the original message: its headers
// (text/rfc822-headers), or the whole message (message/rfc822) when the
// sender asked for RET=FULL on a failure and it is small enough. Failed,
// delayed, or relayed (NOTIFY=SUCCESS and a next hop without DSN, RFC 3461
// 6.2). Original-Envelope-Id (ENVID) and Original-Recipient (ORCPT) are
// carried when the sender gave them. UTF-8 addresses are written in
// utf-8-addr-xtext (RFC 6533). The MIME labels say what the parts hold: 8bit
// on the returned part and on the whole DSN when the original has 8-bit
// bytes, 7bit otherwise. Sent from the null sender to the original envelope
// sender, so a DSN never causes another DSN.
import { utf8AddrXtext } from './esmtp-plan.ts';
import type { RecipientResult } from './smtp-reply.ts';

export type DsnKind = 'failed' | 'delayed' | 'relayed';

export interface DsnInput {
  readonly kind: DsnKind;
  /** Our host name: Reporting-MTA and the From: domain. */
  readonly hostname: string;
  readonly queueId: string;
  /** Message-ID local part for the DSN (its own queue id). */
  readonly dsnId: string;
  readonly originalSender: string;
  readonly arrivalDate: number;
  readonly now: number;
  readonly recipients: readonly RecipientResult[];
  readonly originalHeaders: Buffer;
  /** The whole original message, to return instead of its headers (RET=FULL on a failure). */
  readonly originalMessage?: Buffer;
  /** Said in the text when RET=FULL was asked for but the message was too large to return. */
  readonly tooLargeToReturn?: number;
  /** For delay warnings: when we give up. */
  readonly willRetryUntil?: number;
  /** ENVID of the original transaction (RFC 3461 4.4), xtext-decoded. */
  readonly envelopeId?: string;
  /** ORCPT per recipient (RFC 3461 4.2), xtext-decoded. */
  readonly originalRecipients?: ReadonlyMap<string, { readonly type: string; readonly address: string }>;
}

export function rfc5322Date(ms: number): string {
  return new Date(ms).toUTCString().replace(/GMT$/, '+0000');
}

const ascii = (text: string) => text.replace(/[^\x20-\x7e]/g, '?');

/** A header field folded so no line exceeds 78 characters where spaces allow. */
function field(name: string, value: string): string {
  const words = ascii(value).split(' ');
  const lines: string[] = [];
  let line = `${name}:`;
  for (const word of words) {
    if (line.length + 1 + word.length > 78 && line.trim().length > name.length + 1) {
      lines.push(line);
      line = ` ${word}`;
    } else {
      line += ` ${word}`;
    }
  }
  lines.push(line);
  return lines.join('\r\n');
}

const nonAscii = /[\u0080-\uffff]/;
/** "type; address", a UTF-8 address as utf-8-addr-xtext (RFC 6533 3). */
const typedAddress = (type: string, address: string) =>
  nonAscii.test(address) ? `${type.toLowerCase() === 'rfc822' ? 'utf-8' : type}; ${utf8AddrXtext(address)}` : `${type}; ${address}`;

export function buildDsn(input: DsnInput): Buffer {
  const boundary = `${input.dsnId}/${input.hostname}`;
  const failed = input.kind === 'failed';
  const relayed = input.kind === 'relayed';
  const subject = failed ? 'Undelivered Mail Returned to Sender' : relayed ? 'Successful Mail Delivery Report' : 'Delayed Mail (still being retried)';
  const tooLarge = input.tooLargeToReturn !== undefined ? ['', `The message (${input.tooLargeToReturn} bytes) is too large to return in full; its headers follow.`] : [];
  const human = relayed
    ? [
        `This is the mail system at host ${input.hostname}.`,
        '',
        'Your message was successfully relayed to the recipients below. The next',
        'mail system does not offer delivery status notifications, so no further',
        'notice will come from there.',
        '',
        ...input.recipients.map((r) => `<${r.recipient}>: relayed${r.host ? ` to ${r.host}` : ''}: ${r.reply}`),
      ]
    : failed
    ? [
        `This is the mail system at host ${input.hostname}.`,
        '',
        "I'm sorry to have to inform you that your message could not be delivered",
        'to one or more recipients. It is attached below.',
        '',
        ...input.recipients.map((r) => `<${r.recipient}>: ${r.host ? `host ${r.host} said: ` : ''}${r.reply}`),
        ...tooLarge,
      ]
    : [
        `This is the mail system at host ${input.hostname}.`,
        '',
        '####################################################################',
        '# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #',
        '####################################################################',
        '',
        'Your message could not be delivered yet to the recipients below.',
        input.willRetryUntil !== undefined ? `It will be retried until ${rfc5322Date(input.willRetryUntil)}.` : '',
        '',
        ...input.recipients.map((r) => `<${r.recipient}>: ${r.host ? `host ${r.host} said: ` : ''}${r.reply}`),
      ];
  const perMessage = [
    ...(input.envelopeId !== undefined ? [field('Original-Envelope-Id', input.envelopeId)] : []),
    field('Reporting-MTA', `dns; ${input.hostname}`),
    field('X-Relayguard-Queue-ID', input.queueId),
    field('X-Relayguard-Sender', `rfc822; ${input.originalSender}`),
    field('Arrival-Date', rfc5322Date(input.arrivalDate)),
  ];
  const perRecipient = input.recipients.map((r) => {
    const orcpt = input.originalRecipients?.get(r.recipient);
    return [
      ...(orcpt ? [field('Original-Recipient', typedAddress(orcpt.type, orcpt.address))] : []),
      field('Final-Recipient', typedAddress('rfc822', r.recipient)),
      field('Action', input.kind),
      field('Status', r.enhanced),
      ...(r.host ? [field('Remote-MTA', `dns; ${r.host.replace(/\[.*$/, '')}`)] : []),
      field('Diagnostic-Code', `${/^[2-5]\d\d\b/.test(r.reply) ? 'smtp' : 'x-local'}; ${r.reply}`),
      field('Last-Attempt-Date', rfc5322Date(input.now)),
      ...(input.kind === 'delayed' && input.willRetryUntil !== undefined ? [field('Will-Retry-Until', rfc5322Date(input.willRetryUntil))] : []),
    ].join('\r\n');
  });
  const full = failed && input.originalMessage !== undefined;
  const returned = (full ? (input.originalMessage as Buffer) : input.originalHeaders).toString('latin1').replace(/\r?\n/g, '\r\n');
  const original = full ? returned : returned.replace(/(\r\n)*$/, '\r\n');
  // eslint-disable-next-line no-control-regex
  const eightBit = /[^\x00-\x7f]/.test(original);
  const headers = [
    field('From', `Mail Delivery System <MAILER-DAEMON@${input.hostname}>`),
    field('To', `<${input.originalSender}>`),
    field('Subject', subject),
    field('Date', rfc5322Date(input.now)),
    field('Message-ID', `<${input.dsnId}@${input.hostname}>`),
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;\r\n boundary="${boundary}"`,
    // The label of the whole says what its parts hold (RFC 2045 6.4): 8bit when the returned part is.
    `Content-Transfer-Encoding: ${eightBit ? '8bit' : '7bit'}`,
  ];
  const text = [
    ...headers,
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${boundary}`,
    'Content-Description: Notification',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    ...human.map(ascii),
    '',
    `--${boundary}`,
    'Content-Description: Delivery report',
    'Content-Type: message/delivery-status',
    '',
    ...perMessage,
    '',
    ...perRecipient.flatMap((block) => [block, '']),
    `--${boundary}`,
    full ? 'Content-Description: Undelivered Message' : `Content-Description: ${failed ? 'Undelivered' : relayed ? 'Relayed' : 'Delayed'} Message Headers`,
    full ? 'Content-Type: message/rfc822' : 'Content-Type: text/rfc822-headers',
    // 7bit is the default of a part (RFC 2045 6.1): labelled only when it is 8bit.
    ...(eightBit ? ['Content-Transfer-Encoding: 8bit'] : []),
    '',
  ].join('\r\n');
  const tail = full && !original.endsWith('\r\n') ? `\r\n\r\n--${boundary}--\r\n` : `\r\n--${boundary}--\r\n`;
  return Buffer.concat([Buffer.from(`${text}\r\n`, 'latin1'), Buffer.from(original, 'latin1'), Buffer.from(tail, 'latin1')]);
}

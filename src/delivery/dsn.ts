// PURE. RFC 3464 delivery status notifications: multipart/report with a
// human-readable part, message/delivery-status (per-message fields, then one
// block per recipient) and the original message's headers
// (text/rfc822-headers). Sent from the null sender to the original envelope
// sender, so a DSN never causes another DSN.
import type { RecipientResult } from './smtp-reply.ts';

export interface DsnInput {
  readonly kind: 'failed' | 'delayed';
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
  /** For delay warnings: when we give up. */
  readonly willRetryUntil?: number;
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
const addressType = (address: string) => (nonAscii.test(address) ? 'utf-8' : 'rfc822');

export function buildDsn(input: DsnInput): Buffer {
  const boundary = `${input.dsnId}/${input.hostname}`;
  const failed = input.kind === 'failed';
  const subject = failed ? 'Undelivered Mail Returned to Sender' : 'Delayed Mail (still being retried)';
  const human = failed
    ? [
        `This is the mail system at host ${input.hostname}.`,
        '',
        "I'm sorry to have to inform you that your message could not be delivered",
        'to one or more recipients. It is attached below.',
        '',
        ...input.recipients.map((r) => `<${r.recipient}>: ${r.host ? `host ${r.host} said: ` : ''}${r.reply}`),
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
    field('Reporting-MTA', `dns; ${input.hostname}`),
    field('X-Relayguard-Queue-ID', input.queueId),
    field('X-Relayguard-Sender', `rfc822; ${input.originalSender}`),
    field('Arrival-Date', rfc5322Date(input.arrivalDate)),
  ];
  const perRecipient = input.recipients.map((r) =>
    [
      field('Final-Recipient', `${addressType(r.recipient)}; ${r.recipient}`),
      field('Action', failed ? 'failed' : 'delayed'),
      field('Status', r.enhanced),
      ...(r.host ? [field('Remote-MTA', `dns; ${r.host.replace(/\[.*$/, '')}`)] : []),
      field('Diagnostic-Code', `${/^[2-5]\d\d\b/.test(r.reply) ? 'smtp' : 'x-local'}; ${r.reply}`),
      field('Last-Attempt-Date', rfc5322Date(input.now)),
      ...(!failed && input.willRetryUntil !== undefined ? [field('Will-Retry-Until', rfc5322Date(input.willRetryUntil))] : []),
    ].join('\r\n'),
  );
  const headers = [
    field('From', `Mail Delivery System <MAILER-DAEMON@${input.hostname}>`),
    field('To', `<${input.originalSender}>`),
    field('Subject', subject),
    field('Date', rfc5322Date(input.now)),
    field('Message-ID', `<${input.dsnId}@${input.hostname}>`),
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;\r\n boundary="${boundary}"`,
    'Content-Transfer-Encoding: 7bit',
  ];
  const original = input.originalHeaders.toString('latin1').replace(/\r?\n/g, '\r\n').replace(/(\r\n)*$/, '\r\n');
  const eightBit = nonAscii.test(original);
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
    'Content-Description: Undelivered Message Headers',
    'Content-Type: text/rfc822-headers',
    ...(eightBit ? ['Content-Transfer-Encoding: 8bit'] : []),
    '',
  ].join('\r\n');
  return Buffer.concat([Buffer.from(`${text}\r\n`, 'latin1'), Buffer.from(original, 'latin1'), Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1')]);
}

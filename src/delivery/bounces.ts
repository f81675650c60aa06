// Sends DSNs: builds one (dsn.ts) from a spooled message and its failed,
// delayed or relayed recipients, and puts it into the spool like any
// accepted message, from the null sender. Callers never ask for a DSN about
// a null-sender message. What returns with a failure follows the sender's
// RET (RFC 3461 4.3): FULL, the whole message up to FULL_RETURN_LIMIT
// (headers only beyond, and the text says so); HDRS or no RET, the headers.
// ENVID and ORCPT go into the report.
import { open } from 'node:fs/promises';
import type { Logger } from '../log/logger.ts';
import type { LoadedMessage, Spool } from '../spool/spool.ts';
import { headerBlock } from '../spool/spool-file.ts';
import { buildDsn, type DsnKind } from './dsn.ts';
import { isAscii } from './esmtp-plan.ts';
import type { RecipientResult } from './smtp-reply.ts';

export interface Bouncer {
  failed(msg: LoadedMessage, recipients: readonly RecipientResult[]): Promise<string>;
  delayed(msg: LoadedMessage, recipients: readonly RecipientResult[], until: number): Promise<string>;
  /** NOTIFY=SUCCESS recipients handed to a next hop without DSN (RFC 3461 6.2 "relayed"). */
  relayed(msg: LoadedMessage, recipients: readonly RecipientResult[]): Promise<string>;
}

const HEADER_LIMIT = 64 * 1024;
/** The largest message a RET=FULL failure notice returns whole. */
export const FULL_RETURN_LIMIT = 1024 * 1024;

/** The whole spooled message (callers check its size first). */
async function wholeMessage(msg: LoadedMessage): Promise<Buffer> {
  if (msg.body) return msg.body;
  const handle = await open(msg.file, 'r');
  try {
    const buffer = Buffer.alloc(msg.size);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, msg.bodyOffset);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** The header block of a spooled message, read from disk when not in memory. */
export async function originalHeaders(msg: LoadedMessage): Promise<Buffer> {
  if (msg.body) return headerBlock(msg.body, HEADER_LIMIT);
  const handle = await open(msg.file, 'r');
  try {
    const buffer = Buffer.alloc(Math.min(HEADER_LIMIT, msg.size));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, msg.bodyOffset);
    return headerBlock(buffer.subarray(0, bytesRead), HEADER_LIMIT);
  } finally {
    await handle.close();
  }
}

export function createBouncer(deps: { spool: Spool; hostname: () => string; now: () => number; logger: Logger }): Bouncer {
  async function send(kind: DsnKind, msg: LoadedMessage, recipients: readonly RecipientResult[], until?: number): Promise<string> {
    const hostname = deps.hostname();
    const dsnId = deps.spool.nextId();
    const now = deps.now();
    const env = msg.envelope;
    const full = kind === 'failed' && env.esmtp?.ret === 'FULL';
    const originalRecipients = new Map<string, { type: string; address: string }>();
    for (const r of recipients) {
      const orcpt = env.recipientDsn?.[env.recipients.indexOf(r.recipient)]?.orcpt;
      if (orcpt) originalRecipients.set(r.recipient, orcpt);
    }
    const dsn = buildDsn({
      kind,
      hostname,
      queueId: msg.id,
      dsnId,
      originalSender: msg.envelope.sender,
      arrivalDate: msg.envelope.receivedAt,
      now,
      recipients,
      originalHeaders: await originalHeaders(msg),
      ...(full && msg.size <= FULL_RETURN_LIMIT ? { originalMessage: await wholeMessage(msg) } : {}),
      ...(full && msg.size > FULL_RETURN_LIMIT ? { tooLargeToReturn: msg.size } : {}),
      ...(until !== undefined ? { willRetryUntil: until } : {}),
      ...(env.esmtp?.envid !== undefined ? { envelopeId: env.esmtp.envid } : {}),
      ...(originalRecipients.size > 0 ? { originalRecipients } : {}),
    });
    // The DSN says what it holds, for the delivery of it (8-bit returned text, a UTF-8 address to send to).
    const eightBit = dsn.some((byte) => byte >= 0x80);
    const esmtp = { ...(isAscii(env.sender) ? {} : { smtputf8: true as const }), ...(eightBit ? { body: '8BITMIME' as const } : {}) };
    const id = await deps.spool.accept(
      {
        sender: '',
        recipients: [msg.envelope.sender],
        clientIp: '127.0.0.1',
        helo: hostname,
        listener: 'bounce',
        receivedAt: now,
        ...(Object.keys(esmtp).length > 0 ? { esmtp } : {}),
      },
      dsn,
      { id: dsnId },
    );
    deps.logger.info({ queueId: msg.id, bounceId: id, kind, recipients: recipients.map((r) => r.recipient), to: msg.envelope.sender }, 'delivery status notification queued');
    return id;
  }
  return {
    failed: (msg, recipients) => send('failed', msg, recipients),
    delayed: (msg, recipients, until) => send('delayed', msg, recipients, until),
    relayed: (msg, recipients) => send('relayed', msg, recipients),
  };
}

// Sends DSNs: builds one (dsn.ts) from a spooled message and its failed or
// delayed recipients, and puts it into the spool like any accepted message,
// from the null sender. Callers never ask for a DSN about a null-sender message.
import { open } from 'node:fs/promises';
import type { Logger } from '../log/logger.ts';
import type { LoadedMessage, Spool } from '../spool/spool.ts';
import { headerBlock } from '../spool/spool-file.ts';
import { buildDsn } from './dsn.ts';
import type { RecipientResult } from './smtp-reply.ts';

export interface Bouncer {
  failed(msg: LoadedMessage, recipients: readonly RecipientResult[]): Promise<string>;
  delayed(msg: LoadedMessage, recipients: readonly RecipientResult[], until: number): Promise<string>;
}

const HEADER_LIMIT = 64 * 1024;

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
  async function send(kind: 'failed' | 'delayed', msg: LoadedMessage, recipients: readonly RecipientResult[], until?: number): Promise<string> {
    const hostname = deps.hostname();
    const dsnId = deps.spool.nextId();
    const now = deps.now();
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
      ...(until !== undefined ? { willRetryUntil: until } : {}),
    });
    const id = await deps.spool.accept(
      { sender: '', recipients: [msg.envelope.sender], clientIp: '127.0.0.1', helo: hostname, listener: 'bounce', receivedAt: now },
      dsn,
      { id: dsnId },
    );
    deps.logger.info({ queueId: msg.id, bounceId: id, kind, recipients: recipients.map((r) => r.recipient), to: msg.envelope.sender }, 'delivery status notification queued');
    return id;
  }
  return {
    failed: (msg, recipients) => send('failed', msg, recipients),
    delayed: (msg, recipients, until) => send('delayed', msg, recipients, until),
  };
}

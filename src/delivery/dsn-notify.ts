// PURE. Which notices a recipient asked for (RFC 3461 4.1 NOTIFY), for the
// notices relayguard sends itself: a next hop that offered DSN was given
// NOTIFY and takes over from there (smtp-reply.ts dsnPassed). Without
// NOTIFY a recipient gets failure notices, and delay warnings at the MTA's
// discretion (delivery.delay_warning); NOTIFY=NEVER gets none at all. An
// explicit NOTIFY=DELAY gets a warning even when delay_warning is 0, after
// REQUESTED_DELAY_WARNING (Postfix's delay_warning_time, 4h, is the usual
// figure).
import type { Envelope, RecipientDsn } from '../spool/types.ts';

export type Notice = 'SUCCESS' | 'FAILURE' | 'DELAY';

/** When a recipient asked for delay notices and delivery.delay_warning is 0 (off). */
export const REQUESTED_DELAY_WARNING = 4 * 3600_000;

/** The recipient's DSN parameters, or undefined. */
export function recipientDsnOf(envelope: Pick<Envelope, 'recipients' | 'recipientDsn'>, recipient: string): RecipientDsn | undefined {
  const all = envelope.recipientDsn;
  if (!all) return undefined;
  const index = envelope.recipients.indexOf(recipient);
  return index < 0 ? undefined : (all[index] ?? undefined);
}

/** true: send it; false: the recipient said not to; 'discretion': no NOTIFY, a delay warning is the MTA's call. */
export function wantsNotice(envelope: Pick<Envelope, 'recipients' | 'recipientDsn'>, recipient: string, notice: Notice): boolean | 'discretion' {
  const notify = recipientDsnOf(envelope, recipient)?.notify;
  if (!notify || notify.length === 0) return notice === 'FAILURE' ? true : notice === 'DELAY' ? 'discretion' : false;
  return notify.includes(notice);
}

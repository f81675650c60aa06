// PURE. What one round of attempts means for a message: the journal event to
// record, whether anything is left to deliver, which recipients now need a
// bounce (failed this round, or expired), and whether a delay warning is due.
import type { JournalEvent, MessageState, RecipientStatus } from '../spool/state-journal.ts';
import type { StoredEnvelope } from '../spool/spool-file.ts';
import { delayWarningDue, planRetry } from './retry-schedule.ts';
import type { RecipientResult } from './smtp-reply.ts';

export interface OutcomeInput {
  readonly envelope: StoredEnvelope;
  readonly state: MessageState;
  readonly results: readonly RecipientResult[];
  readonly now: number;
  readonly schedule: readonly number[];
  readonly lifetime: number;
  readonly delayWarning: number;
}

export interface OutcomePlan {
  readonly event: JournalEvent;
  /** No recipient is pending or deferred any more: the message leaves the spool. */
  readonly done: boolean;
  /** Failed for good this round (5xx, local permanent failure, expiry). */
  readonly failed: readonly RecipientResult[];
  /** Still deferred and a delay warning is due now. */
  readonly warn: readonly RecipientResult[];
  readonly nextAttemptAt?: number;
}

export function planOutcome(input: OutcomeInput): OutcomePlan {
  const attempts = input.state.attempts + 1;
  const deferred = input.results.filter((r) => r.status === 'deferred');
  const retry = deferred.length > 0
    ? planRetry({ now: input.now, receivedAt: input.envelope.receivedAt, attempts, schedule: input.schedule, lifetime: input.lifetime })
    : undefined;
  const expired = retry?.kind === 'expired';
  const final: RecipientResult[] = input.results.map((r) =>
    r.status === 'deferred' && expired
      ? { ...r, status: 'failed', reply: `delivery time expired; last error: ${r.reply}`, enhanced: r.enhanced.startsWith('4.') ? r.enhanced : '4.4.7' }
      : r,
  );
  // Recipients not in this round (already final, or not attempted) keep their state.
  const untouchedOpen = [...input.state.recipients].filter(
    ([rcpt, rs]) => (rs.status === 'pending' || rs.status === 'deferred') && !input.results.some((r) => r.recipient === rcpt),
  );
  // A null-prototype object is a dictionary from the start: recipients are
  // unique strings, and adding them to a `{}` made V8 grow one shared hidden
  // class transition tree by a branch per address ever delivered.
  const rcpt = Object.create(null) as Record<string, { s: RecipientStatus; x?: string; e?: string; h?: string }>;
  for (const r of final) rcpt[r.recipient] = { s: r.status, x: r.reply, e: r.enhanced, ...(r.host ? { h: r.host } : {}) };
  const stillOpen = final.some((r) => r.status === 'deferred') || untouchedOpen.length > 0;
  const nextAttemptAt = stillOpen ? (retry?.kind === 'retry' ? retry.at : input.now) : undefined;
  const warnDue =
    stillOpen &&
    delayWarningDue({ now: input.now, receivedAt: input.envelope.receivedAt, delayWarning: input.delayWarning, warned: input.state.warned, sender: input.envelope.sender });
  const event: JournalEvent = {
    at: input.now,
    kind: expired ? 'expired' : 'attempt',
    attempts,
    ...(nextAttemptAt !== undefined ? { next: nextAttemptAt } : {}),
    ...(warnDue ? { warned: true } : {}),
    rcpt,
  };
  return {
    event,
    done: !stillOpen,
    failed: final.filter((r) => r.status === 'failed'),
    warn: warnDue ? final.filter((r) => r.status === 'deferred') : [],
    ...(nextAttemptAt !== undefined ? { nextAttemptAt } : {}),
  };
}

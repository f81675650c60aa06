// PURE. What one round of attempts means for a message: the journal event to
// record, whether anything is left to deliver, which recipients now need a
// bounce (failed this round, or expired), and whether a delay warning is due.
import type { JournalEvent, MessageState, RecipientStatus } from '../spool/state-journal.ts';
import type { StoredEnvelope } from '../spool/spool-file.ts';
import { REQUESTED_DELAY_WARNING, wantsNotice } from './dsn-notify.ts';
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
  /** Of those, the ones that asked for a failure notice (all but NOTIFY=NEVER or NOTIFY without FAILURE). */
  readonly bounce: readonly RecipientResult[];
  /** Still deferred and a delay warning is due now (and wanted: NOTIFY=DELAY, or no NOTIFY and delay_warning set). */
  readonly warn: readonly RecipientResult[];
  /** Delivered to a next hop that did not offer DSN, with NOTIFY=SUCCESS: a "relayed" DSN is due (RFC 3461 6.2). */
  readonly relayed: readonly RecipientResult[];
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
  const env = input.envelope;
  const stillDeferred = final.filter((r) => r.status === 'deferred');
  const wantsDelay = (r: RecipientResult) => {
    const wants = wantsNotice(env, r.recipient, 'DELAY');
    return wants === 'discretion' ? input.delayWarning > 0 : wants;
  };
  // A recipient who asked for delay notices gets one even when the operator's setting is off.
  const explicitDelay = env.recipientDsn !== undefined && stillDeferred.some((r) => wantsNotice(env, r.recipient, 'DELAY') === true);
  const delayWarning = input.delayWarning > 0 ? input.delayWarning : explicitDelay ? REQUESTED_DELAY_WARNING : 0;
  const warnDue =
    stillOpen &&
    delayWarningDue({ now: input.now, receivedAt: env.receivedAt, delayWarning, warned: input.state.warned, sender: env.sender });
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
    bounce: env.recipientDsn === undefined ? final.filter((r) => r.status === 'failed') : final.filter((r) => r.status === 'failed' && wantsNotice(env, r.recipient, 'FAILURE') === true),
    warn: warnDue ? stillDeferred.filter(wantsDelay) : [],
    relayed: env.recipientDsn === undefined ? [] : final.filter((r) => r.status === 'delivered' && !r.dsnPassed && wantsNotice(env, r.recipient, 'SUCCESS') === true),
    ...(nextAttemptAt !== undefined ? { nextAttemptAt } : {}),
  };
}

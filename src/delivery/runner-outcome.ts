// Applying outcomes: when every job of a message is back, message-outcome.ts
// plans what it means; this part carries the plan out: bounce the failed
// recipients, warn about delays, then remove the message, or record the
// journal event and schedule the next attempt. If the spool cannot record
// it, nothing is lost (the old journal is still on disk): try again later.
import type { LoadedMessage } from '../spool/spool.ts';
import type { Bouncer } from './bounces.ts';
import { wantsNotice } from './dsn-notify.ts';
import { planOutcome } from './message-outcome.ts';
import { chooseBounces, type BounceChoice } from './backscatter.ts';
import type { Run, RunnerContext } from './runner-state.ts';
import type { RecipientResult } from './smtp-reply.ts';

export interface OutcomesDeps extends RunnerContext {
  readonly bouncer: Bouncer;
  /** Whether a sender is in one of our local domains and known not to exist (no DSN to it, ever). */
  readonly senderUnknown?: ((sender: string) => boolean) | undefined;
}

export class Outcomes {
  readonly #d: OutcomesDeps;

  constructor(deps: OutcomesDeps) {
    this.#d = deps;
  }

  async complete(run: Run): Promise<void> {
    const { state, schedule, spool, bouncer, events, now } = this.#d;
    state.completing++;
    const { msg } = run;
    const d = state.config.delivery;
    const plan = planOutcome({
      envelope: msg.envelope,
      state: msg.state,
      results: run.results,
      now: now(),
      schedule: d.retry_schedule,
      lifetime: d.queue_lifetime,
      delayWarning: d.delay_warning,
    });
    try {
      if (plan.failed.length > 0 && msg.envelope.sender !== '') {
        const choice = chooseBounces(msg.envelope, plan.failed, state.config.recipient_verification.dsn_after_accept, this.#d.senderUnknown?.(msg.envelope.sender) === true);
        this.#reportRefusals(msg, choice);
        // A DSN needs both: the recipient asked for one (NOTIFY, plan.bounce) and the backscatter guard allows it.
        const allowed = new Set(plan.bounce);
        const bounce = choice.bounce.filter((r) => allowed.has(r));
        if (bounce.length > 0) await this.bounceFailed(msg, bounce);
      } else if (plan.failed.length > 0) {
        this.#d.logger.warn({ queueId: msg.id, recipients: plan.failed.map((r) => r.recipient) }, 'failed recipients of a null-sender message: no bounce');
      }
      if (plan.bounce.length < plan.failed.length) {
        const silent = plan.failed.filter((r) => !plan.bounce.includes(r)).map((r) => r.recipient);
        this.#d.logger.info({ queueId: msg.id, recipients: silent }, 'failed recipients that asked for no failure notice (NOTIFY): no bounce');
      }
      if (plan.relayed.length > 0 && msg.envelope.sender !== '') {
        const bounceId = await bouncer.relayed(msg, plan.relayed);
        events.publish({ type: 'bounce', queueId: msg.id, bounceId, kind: 'relayed', recipients: plan.relayed.map((r) => r.recipient) });
      }
      if (plan.warn.length > 0) {
        const bounceId = await bouncer.delayed(msg, plan.warn, msg.envelope.receivedAt + d.queue_lifetime);
        events.publish({ type: 'bounce', queueId: msg.id, bounceId, kind: 'delayed', recipients: plan.warn.map((r) => r.recipient) });
      }
      if (plan.done) {
        await spool.remove(msg.id);
        events.publish({ type: 'removed', queueId: msg.id, reason: plan.failed.length > 0 ? 'failed' : 'delivered' });
      } else {
        await spool.record(msg.id, plan.event);
        schedule.add(msg.id, plan.nextAttemptAt as number);
      }
    } catch (error) {
      // Nothing was lost: the message and its old journal are still on disk. Try again later.
      this.#d.logger.error({ err: error, queueId: msg.id }, 'cannot record delivery outcome; retrying later');
      schedule.retryLater(msg.id);
    }
    state.runs.delete(msg.id);
    state.loaded--;
    state.completing--;
    run.finish();
    schedule.requestPump();
    state.idleCheck();
  }

  /** Logs and counts what the backend refused after we accepted it, and every DSN not sent. */
  #reportRefusals(msg: LoadedMessage, choice: BounceChoice): void {
    const { state, events, logger } = this.#d;
    const withheld = new Set(choice.suppressed);
    for (const r of choice.refusedAfterAccept) {
      const dsn = !withheld.has(r);
      state.counters.refusedAfterAccept++;
      if (!dsn) state.counters.dsnSuppressed++;
      logger.warn(
        { event: 'delivery.refused_after_accept', queueId: msg.id, recipient: r.recipient, reply: r.reply, host: r.host, sender: msg.envelope.sender, dsn, ...(dsn ? {} : { why: choice.why }) },
        'backend refused a recipient we had accepted (verified at RCPT)',
      );
    }
    const others = choice.suppressed.filter((r) => !choice.refusedAfterAccept.includes(r));
    if (others.length > 0) {
      state.counters.dsnSuppressed += others.length;
      logger.warn({ queueId: msg.id, recipients: others.map((r) => r.recipient), sender: msg.envelope.sender, why: choice.why }, 'failed recipients: no DSN to a local sender that does not exist');
    }
    if (choice.refusedAfterAccept.length > 0) {
      events.publish({ type: 'refused_after_accept', queueId: msg.id, recipients: choice.refusedAfterAccept.map((r) => r.recipient), dsn: choice.refusedAfterAccept.map((r) => !withheld.has(r)) });
    }
  }

  /**
   * An administrator's bounce (queue bounce, dashboard): the same backscatter
   * guard as a failed delivery (backscatter.ts: no DSN to a local sender known
   * not to exist), then the recipients' NOTIFY. Null sender: nothing.
   */
  async bounceByAdmin(msg: LoadedMessage, failed: readonly RecipientResult[]): Promise<void> {
    if (failed.length === 0 || msg.envelope.sender === '') return;
    const choice = chooseBounces(msg.envelope, failed, this.#d.state.config.recipient_verification.dsn_after_accept, this.#d.senderUnknown?.(msg.envelope.sender) === true);
    this.#reportRefusals(msg, choice);
    if (choice.bounce.length > 0) await this.bounceFailed(msg, choice.bounce);
  }

  /** Sends the bounce for recipients that failed for good (the sender is not the null sender). */
  async bounceFailed(msg: LoadedMessage, all: readonly RecipientResult[]): Promise<void> {
    // NOTIFY=NEVER, or a NOTIFY list without FAILURE: the sender asked for no failure notice.
    const failed = all.filter((r) => wantsNotice(msg.envelope, r.recipient, 'FAILURE') === true);
    if (failed.length === 0) return;
    const bounceId = await this.#d.bouncer.failed(msg, failed);
    this.#d.state.counters.bounces++;
    this.#d.events.publish({ type: 'bounce', queueId: msg.id, bounceId, kind: 'failed', recipients: failed.map((r) => r.recipient) });
  }
}

// Held messages on the running runner (issue 19 item 1): `relayguard queue
// hold | release` (through queue-control.ts), and what happens when a hold
// expires. The spool journals the hold and keeps a held message out of the
// schedule until its hold expires (its due time is the expiry); the picker
// hands every held message it loads here instead of delivering it, so a
// held message is never attempted, whatever the schedule or a retry says.
// A message whose attempt is in flight is held once that attempt is over
// (what it delivered is delivered; the rest waits).
import type { Config } from '../config/schema.ts';
import type { LoadedMessage } from '../spool/spool.ts';
import type { StoredEnvelope } from '../spool/spool-file.ts';
import { openRecipients, type HoldMark } from '../spool/state-journal.ts';
import type { Outcomes } from './runner-outcome.ts';
import type { RunnerContext } from './runner-state.ts';

/** Which messages a hold or release is about: one id, or every message of a user or a sender. */
export type HoldSelector = { readonly id: string } | { readonly user: string } | { readonly sender: string };

/** May an expired hold be bounced to this sender? Only our own users (authenticated, or relay networks). */
export type OwnSender = (envelope: StoredEnvelope) => boolean;

/** PURE. A hold made now, expiring after the configured lifetime. */
export function holdMark(now: number, delivery: Pick<Config['delivery'], 'hold_lifetime'>, reason: string, by: string): HoldMark {
  return { at: now, until: now + delivery.hold_lifetime, reason, by };
}

/** PURE. Does a message's envelope match a selector (users and senders compare case-insensitively; "<>" or "" is the null sender)? */
export function matchesSelector(envelope: StoredEnvelope, selector: HoldSelector): boolean {
  if ('id' in selector) return envelope.id === selector.id;
  if ('user' in selector) return envelope.authUser !== undefined && envelope.authUser.toLowerCase() === selector.user.toLowerCase();
  const wanted = selector.sender === '<>' ? '' : selector.sender.replace(/^<(.*)>$/, '$1');
  return envelope.sender.toLowerCase() === wanted.toLowerCase();
}

/** PURE. What an expired hold becomes: a bounce to our own user, else a deletion. */
export function expiryAction(envelope: StoredEnvelope, setting: Config['delivery']['hold_expiry'], own: boolean): 'bounce' | 'delete' {
  return setting === 'bounce' && envelope.sender !== '' && own ? 'bounce' : 'delete';
}

export interface RunnerHoldsDeps extends RunnerContext {
  readonly outcomes: Outcomes;
  readonly ownSender: OwnSender;
}

export class RunnerHolds {
  readonly #d: RunnerHoldsDeps;

  constructor(deps: RunnerHoldsDeps) {
    this.#d = deps;
  }

  /** Holds the selected messages that are not held yet; returns their ids. */
  async hold(selector: HoldSelector, reason: string, by: string): Promise<string[]> {
    const { spool, state, schedule } = this.#d;
    const held: string[] = [];
    for (const id of await this.#select(selector, [...spool.entries()].map(([i]) => i))) {
      if (spool.isHeld(id) || state.holding.has(id)) continue;
      // From here the picker sets the message aside instead of starting it.
      state.holding.add(id);
      try {
        const run = state.runs.get(id);
        if (run) await run.done;
        if (!spool.has(id)) continue;
        const mark = holdMark(this.#d.now(), state.config.delivery, reason, by);
        if (await spool.hold(id, mark)) {
          schedule.add(id, mark.until);
          held.push(id);
          this.#d.logger.info({ queueId: id, reason, by, until: new Date(mark.until).toISOString() }, 'message held');
        }
      } finally {
        state.holding.delete(id);
        // Not held after all (gone, or the journal could not be written): back on the schedule.
        const due = spool.dueOf(id);
        if (!spool.isHeld(id) && due !== undefined) schedule.moveTo(id, due);
      }
    }
    schedule.requestPump();
    return held;
  }

  /** Releases the selected held messages (due now); returns their ids. */
  async release(selector: HoldSelector): Promise<string[]> {
    const { spool, state, schedule } = this.#d;
    const released: string[] = [];
    for (const id of await this.#select(selector, spool.heldIds())) {
      if (state.holding.has(id)) continue; // expiring right now
      const at = this.#d.now();
      if (await spool.release(id, at)) {
        schedule.add(id, at);
        released.push(id);
        this.#d.logger.info({ queueId: id }, 'message released');
      }
    }
    schedule.requestPump();
    return released;
  }

  /**
   * The picker loaded a held message: not delivered. Past its expiry it is
   * bounced to our own user or deleted ([delivery] hold_expiry); before,
   * it waits for the expiry.
   */
  async loadedHeld(msg: LoadedMessage, mark: HoldMark): Promise<void> {
    const { spool, state, schedule, events, logger } = this.#d;
    if (mark.until > this.#d.now()) {
      schedule.moveTo(msg.id, mark.until);
      return;
    }
    if (state.holding.has(msg.id)) return;
    state.holding.add(msg.id);
    try {
      const action = expiryAction(msg.envelope, state.config.delivery.hold_expiry, this.#d.ownSender(msg.envelope));
      if (action === 'bounce') {
        const reply = `held (${mark.reason || 'by the administrator'}) and not released before ${new Date(mark.until).toISOString()}`;
        const failed = openRecipients(msg.state).map((r) => ({ recipient: r, status: 'failed' as const, reply, enhanced: '5.7.1' }));
        if (failed.length > 0) await this.#d.outcomes.bounceFailed(msg, failed);
      }
      await spool.remove(msg.id);
      logger.warn({ queueId: msg.id, sender: msg.envelope.sender, authUser: msg.envelope.authUser, reason: mark.reason, by: mark.by, action }, 'hold expired');
      events.publish({ type: 'removed', queueId: msg.id, reason: action === 'bounce' ? 'bounced' : 'deleted' });
    } catch (error) {
      logger.error({ err: error, queueId: msg.id }, 'cannot expire a held message; retrying later');
      schedule.retryLater(msg.id);
    } finally {
      state.holding.delete(msg.id);
    }
  }

  /** The candidates (`among`) that match: an id directly, a user or sender by loading each envelope. */
  async #select(selector: HoldSelector, among: readonly string[]): Promise<string[]> {
    const { spool } = this.#d;
    if ('id' in selector) return among.includes(selector.id) ? [selector.id] : [];
    const found: string[] = [];
    for (const id of among) {
      const envelope = this.#d.state.runs.get(id)?.msg.envelope ?? (await spool.load(id).catch(() => undefined))?.envelope;
      if (envelope && matchesSelector(envelope, selector)) found.push(id);
    }
    return found;
  }
}

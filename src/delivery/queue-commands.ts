// Queue control on the running runner: `relayguard queue retry | delete |
// bounce` (through queue-control.ts) and the API. A command on a message
// whose attempt is in flight waits for that attempt to finish first.
import { openRecipients, type MessageState } from '../spool/state-journal.ts';
import type { Outcomes } from './runner-outcome.ts';
import type { RunnerContext } from './runner-state.ts';
import type { RecipientResult } from './smtp-reply.ts';

const DEFAULT_BOUNCE_REASON = 'removed from the queue by the administrator';

/** PURE. Every open recipient failed for good, with the administrator's reason. */
export function adminFailures(state: MessageState, reason: string): RecipientResult[] {
  return openRecipients(state).map((r) => ({ recipient: r, status: 'failed' as const, reply: reason, enhanced: '5.0.0' }));
}

export interface QueueCommandsDeps extends RunnerContext {
  readonly outcomes: Outcomes;
}

export class QueueCommands {
  readonly #d: QueueCommandsDeps;

  constructor(deps: QueueCommandsDeps) {
    this.#d = deps;
  }

  /** Makes one message (or every message) due now; returns how many. Held messages stay held (release them). */
  async retry(id?: string): Promise<number> {
    const { state, schedule, spool } = this.#d;
    const ids = (id === undefined ? [...spool.entries()].map(([i]) => i) : spool.has(id) ? [id] : []).filter((i) => !spool.isHeld(i));
    const t = this.#d.now();
    for (const one of ids) {
      if (state.runs.has(one)) continue;
      // Memory only: after a restart every message is looked at anyway.
      state.forced.add(one);
      schedule.moveTo(one, t);
    }
    schedule.requestPump();
    return ids.length;
  }

  /** Removes a message without a bounce. */
  async remove(id: string): Promise<boolean> {
    const { spool } = this.#d;
    await this.#waitFor(id);
    if (!spool.has(id)) return false;
    await spool.remove(id);
    this.#d.events.publish({ type: 'removed', queueId: id, reason: 'deleted' });
    return true;
  }

  /** Fails every open recipient with a bounce to the sender (none for the null sender; backscatter rules apply), then removes the message. */
  async bounce(id: string, reason = DEFAULT_BOUNCE_REASON): Promise<boolean> {
    const { spool } = this.#d;
    await this.#waitFor(id);
    const msg = await spool.load(id);
    if (!msg) return false;
    const failed = adminFailures(msg.state, reason);
    await this.#d.outcomes.bounceByAdmin(msg, failed);
    await spool.remove(id);
    this.#d.events.publish({ type: 'removed', queueId: id, reason: 'bounced' });
    return true;
  }

  async #waitFor(id: string): Promise<void> {
    const run = this.#d.state.runs.get(id);
    if (run) await run.done;
  }
}

// Picking: which messages to load from disk and hand to dispatch. A pass
// ("pump") takes due ids off the schedule while fewer than maxLoaded are
// loaded, loads each and splits it into one job per destination. A message
// whose only destination already has a full queue is parked (its id only)
// and loaded again when that queue has room, so a slow or dead destination
// neither starves the others nor fills memory.
import type { LoadedMessage } from '../spool/spool.ts';
import { openRecipients } from '../spool/state-journal.ts';
import { groupByDestination } from './routing.ts';
import type { Dispatcher } from './runner-dispatch.ts';
import type { RunnerHolds } from './runner-holds.ts';
import { singleQueueKey, type Run, type RunnerContext } from './runner-state.ts';

export interface PickerDeps extends RunnerContext {
  readonly dispatcher: Dispatcher;
  readonly holds: RunnerHolds;
}

export class Picker {
  readonly #d: PickerDeps;

  constructor(deps: PickerDeps) {
    this.#d = deps;
  }

  /** One pass: unpark what has room, load what is due, arm the timer for the rest, dispatch. */
  pump(): void {
    const { state, schedule, spool } = this.#d;
    if (state.stopping) return;
    this.#unpark();
    const t = this.#d.now();
    // With a single destination (a smarthost, no routes) every message goes to the same
    // queue: stop reading from disk while that queue is full instead of reading and parking.
    const single = singleQueueKey(state.config.delivery);
    while (state.loaded < state.maxLoaded) {
      if (single !== undefined && state.queued(single) + state.loading >= state.queueCap()) break;
      const top = schedule.peek();
      if (!top || top.due > t) break;
      schedule.pop();
      if (spool.dueOf(top.id) !== top.due || state.runs.has(top.id)) continue;
      state.loaded++;
      void this.#load(top.id);
    }
    const top = schedule.peek();
    if (top && state.loaded < state.maxLoaded) schedule.wakeAt(top.due);
    this.#d.dispatcher.dispatch();
  }

  async #load(id: string): Promise<void> {
    const { state, schedule, spool, now } = this.#d;
    let msg: LoadedMessage | undefined;
    state.loading++;
    try {
      msg = await spool.load(id);
    } catch (error) {
      this.#d.logger.error({ err: error, queueId: id }, 'cannot load message; retrying later');
      schedule.retryLater(id);
    } finally {
      state.loading--;
    }
    if (msg && !state.stopping && (msg.state.held !== undefined || spool.isHeld(id) || state.holding.has(id))) {
      // The loaded state is the truth; the in-memory set and markers follow it.
      await spool.reconcileHold(id, msg.state.held).catch((error: unknown) => this.#d.logger.error({ err: error, queueId: id }, 'cannot update a hold marker'));
      const mark = msg.state.held;
      if (mark !== undefined || state.holding.has(id)) {
        // Held (or being held right now): never delivered from here.
        state.loaded--;
        if (mark !== undefined) await this.#d.holds.loadedHeld(msg, mark);
        state.idleCheck();
        schedule.requestPump();
        return;
      }
    }
    const open = msg ? openRecipients(msg.state) : [];
    const early = msg !== undefined && msg.state.nextAttemptAt > now() + 1_000 && !state.forced.has(id);
    if (!msg || state.stopping || open.length === 0 || early) {
      state.loaded--;
      if (msg && open.length === 0 && !state.stopping) await spool.remove(id).catch(() => undefined);
      else if (msg && !state.stopping) {
        // The index was early (e.g. a journal's mtime touched by hand): trust the journal.
        schedule.moveTo(id, msg.state.nextAttemptAt);
      }
      state.idleCheck();
      schedule.requestPump();
      return;
    }
    const groups = groupByDestination(open, state.config.delivery);
    const only = groups.length === 1 ? (groups[0] as (typeof groups)[number]).destination.key : undefined;
    if (state.runs.has(id) || (only !== undefined && state.queued(only) >= state.queueCap())) {
      // Its destination already has a full queue (slow, rate-limited or down): park the id
      // there instead of holding the message, so other destinations are not starved and
      // memory stays bounded. It is loaded again when that queue has room.
      state.loaded--;
      if (!state.runs.has(id) && only !== undefined) {
        const set = state.parked.get(only) ?? new Set<string>();
        set.add(id);
        state.parked.set(only, set);
      }
      schedule.requestPump();
      return;
    }
    state.forced.delete(id);
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const run: Run = { id, msg, pendingJobs: groups.length, activeJobs: 0, results: [], done, finish };
    state.runs.set(id, run);
    for (const group of groups) {
      const queue = state.queues.get(group.destination.key) ?? [];
      queue.push({ run, destination: group.destination, recipients: group.recipients });
      state.queues.set(group.destination.key, queue);
    }
    this.#d.dispatcher.dispatch();
  }

  /** Loads parked messages of destinations whose queue has room again. */
  #unpark(): void {
    const { state } = this.#d;
    for (const [key, ids] of state.parked) {
      let room = state.queueCap() - state.queued(key);
      for (const id of ids) {
        if (room <= 0 || state.loaded >= state.maxLoaded) break;
        ids.delete(id);
        if (state.runs.has(id) || !this.#d.spool.has(id)) continue;
        room--;
        state.loaded++;
        void this.#load(id);
      }
      if (ids.size === 0) state.parked.delete(key);
      if (state.loaded >= state.maxLoaded) return;
    }
  }
}

// The queue runner's schedule: a min-heap of (due, id) over the spool's
// index (min-heap.ts), one timer for the earliest due time, and the pass
// over the heap ("pump") that a burst of accepts asks for only once.
// A rescheduled message gets a new heap entry; the old one is stale when it
// surfaces (its due no longer matches the spool's) and is skipped.
import type { Spool } from '../spool/spool.ts';
import { MinHeap, type HeapEntry } from './min-heap.ts';

/** A message that cannot be loaded, or whose outcome cannot be recorded, is tried again this much later. */
export const RETRY_LATER_MS = 60_000;
/** The longest a timer is set for (a clock change is noticed within this). */
const MAX_TIMER_MS = 60_000;

/** PURE. The timer delay for a wake-up at `at`: now or later, at most MAX_TIMER_MS. */
export function timerDelay(at: number, now: number): number {
  return Math.min(Math.max(at - now, 0), MAX_TIMER_MS);
}

export class Schedule {
  readonly #heap = new MinHeap();
  readonly #spool: Spool;
  readonly #now: () => number;
  readonly #pump: () => void;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #pumpQueued = false;
  #stopped = false;

  /** `pump` is the pass over the schedule, run on the next turn of the loop or when the timer fires. */
  constructor(spool: Spool, now: () => number, pump: () => void) {
    this.#spool = spool;
    this.#now = now;
    this.#pump = pump;
  }

  /** A heap entry for a due time the spool's index already has. */
  add(id: string, due: number): void {
    this.#heap.push({ due, id });
  }

  /** A new due time, in the spool's index (memory only: the journal keeps the durable one) and on the heap. */
  moveTo(id: string, due: number): void {
    this.#spool.setDue(id, due);
    this.#heap.push({ due, id });
  }

  /** Due again in RETRY_LATER_MS (after a failure to load or record it). */
  retryLater(id: string): void {
    this.moveTo(id, this.#now() + RETRY_LATER_MS);
  }

  peek(): HeapEntry | undefined {
    return this.#heap.peek();
  }

  pop(): HeapEntry | undefined {
    return this.#heap.pop();
  }

  /** Runs the pump on the next turn of the loop; coalesces a burst of accepts into one pass over the heap. */
  requestPump(): void {
    if (this.#pumpQueued || this.#stopped) return;
    this.#pumpQueued = true;
    setImmediate(() => {
      this.#pumpQueued = false;
      this.#pump();
    });
  }

  /** Runs the pump at `at` (unless an earlier wake-up is set). */
  wakeAt(at: number): void {
    if (this.#stopped || at >= this.#timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#pump();
    }, timerDelay(at, this.#now()));
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }
}

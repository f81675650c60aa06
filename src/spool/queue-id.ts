// Queue ids: unique, sortable by accept time, safe as file names on any file
// system (upper-case letters and digits only in the generated part, so a
// case-insensitive disk cannot merge two ids). Layout of the generated core,
// 17 characters: 9 base-36 digits of epoch milliseconds, 4 of a per-millisecond
// sequence, 4 random (two processes sharing a directory never collide).
// An optional instance name (config cluster.instance) is prefixed with "-".
import { randomInt } from 'node:crypto';

const TIME_WIDTH = 9;
const SEQ_WIDTH = 4;
const RANDOM_WIDTH = 4;
export const QUEUE_ID_CORE_LENGTH = TIME_WIDTH + SEQ_WIDTH + RANDOM_WIDTH;
const MAX_SEQ = 36 ** SEQ_WIDTH - 1;
const ID_PATTERN = /^(?:[A-Za-z0-9-]{1,63}-)?[0-9A-Z]{17}$/;

const base36 = (value: number, width: number): string => value.toString(36).toUpperCase().padStart(width, '0');

export interface QueueIdOptions {
  readonly instance?: string;
  readonly now: () => number;
}

/** Returns a generator of ids, strictly increasing within this process. */
export function createQueueIdGenerator(options: QueueIdOptions): () => string {
  const prefix = options.instance ? `${options.instance}-` : '';
  let lastTime = 0;
  let seq = 0;
  return () => {
    let time = Math.max(Math.floor(options.now()), lastTime);
    if (time === lastTime) {
      seq++;
      // 1.6 million ids in one millisecond: borrow the next millisecond instead of wrapping.
      if (seq > MAX_SEQ) {
        time++;
        seq = 0;
      }
    } else {
      seq = 0;
    }
    lastTime = time;
    return prefix + base36(time, TIME_WIDTH) + base36(seq, SEQ_WIDTH) + base36(randomInt(36 ** RANDOM_WIDTH), RANDOM_WIDTH);
  };
}

export function isQueueId(text: string): boolean {
  return ID_PATTERN.test(text);
}

/** Epoch milliseconds encoded in an id, or undefined for a malformed id. */
export function queueIdTime(id: string): number | undefined {
  if (!isQueueId(id)) return undefined;
  const core = id.slice(-QUEUE_ID_CORE_LENGTH);
  const time = parseInt(core.slice(0, TIME_WIDTH), 36);
  return Number.isFinite(time) ? time : undefined;
}

// The messages between the main thread (worker-deliverer.ts) and the
// delivery worker (delivery-worker.ts). Plain data only.
// Each postMessage carries a batch: everything one side had to say in one
// turn of its event loop (jobs one way; reports and log lines the other).
// One message per item cost a thread wake-up and a structured clone each,
// several per delivered message; bench/ measured it.
import type { JobReport } from './deliver-job.ts';
import type { DelivererConfig, DeliveryRequest, ReuseOptions } from './deliverer.ts';

export interface WorkerInit {
  readonly config: DelivererConfig;
  readonly ownAddresses: ReadonlyArray<{ readonly host: string; readonly port: number }>;
  readonly reuse?: ReuseOptions;
  readonly logLevel: string;
  readonly logBindings: Record<string, unknown>;
}

export type ToWorker =
  | { readonly type: 'job'; readonly seq: number; readonly request: DeliveryRequest }
  | { readonly type: 'config'; readonly config: DelivererConfig; readonly ownAddresses: WorkerInit['ownAddresses']; readonly logLevel?: string }
  | { readonly type: 'cut' }
  | { readonly type: 'ping'; readonly seq: number }
  | { readonly type: 'close' };

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'report'; readonly seq: number; readonly report: JobReport; readonly idle: number }
  | { readonly type: 'failed'; readonly seq: number; readonly message: string }
  | { readonly type: 'log'; readonly line: string }
  | { readonly type: 'pong'; readonly seq: number };

/** What one postMessage carries, in the order the items were said. */
export type Batch<T> = readonly T[];

/**
 * Collects items and posts them as one batch at the end of this turn of the
 * event loop (setImmediate: after the I/O callbacks of the turn, so every
 * item they produced rides along). `now` posts at once (shutdown, crashes).
 */
export function batchedPoster<T>(postMessage: (batch: Batch<T>) => void): { post(item: T): void; now(): void } {
  let items: T[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (items.length === 0) return;
    const batch = items;
    items = [];
    postMessage(batch);
  };
  return {
    post(item) {
      items.push(item);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    now: flush,
  };
}

// The messages between the main thread (worker-deliverer.ts) and the
// delivery worker (delivery-worker.ts). Plain data only.
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
  | { readonly type: 'config'; readonly config: DelivererConfig; readonly ownAddresses: WorkerInit['ownAddresses'] }
  | { readonly type: 'cut' }
  | { readonly type: 'close' };

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'report'; readonly seq: number; readonly report: JobReport; readonly idle: number }
  | { readonly type: 'failed'; readonly seq: number; readonly message: string }
  | { readonly type: 'log'; readonly line: string };

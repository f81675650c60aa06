// Where delivery attempts run. The queue runner decides what to send and
// when; a Deliverer carries out one attempt (deliver-job.ts) and owns the
// outbound machinery: MX resolution, the connection cache, TLS memory.
// In this thread (in-process-deliverer.ts), or in a worker thread
// (worker-deliverer.ts) so outbound SMTP runs on another core than the
// front door. Everything crossing the boundary is plain data.
import type { Config } from '../config/schema.ts';
import type { JobInput, JobReport } from './deliver-job.ts';

/** The message bytes: in memory, or where they are in a spool file (bodyOffset..end inclusive). */
export type DeliveryBody = Buffer | { readonly file: string; readonly start: number; readonly end: number };

/** One attempt as the runner asks for it: deliver-job.ts's input, with the body as data that can cross to a worker. */
export interface DeliveryRequest extends Omit<JobInput, 'body'> {
  readonly body: DeliveryBody;
}

/** The part of the configuration delivery attempts need (plain data, sent to a worker as is). */
export interface DelivererConfig {
  readonly hostname: string;
  readonly dns: Config['dns'];
  readonly delivery: Config['delivery'];
}

export interface ReuseOptions {
  /** Idle time of a cached connection (default 5 s). */
  readonly idleMs?: number;
  /** Messages per connection (default 1000; 1 = no reuse). */
  readonly maxMessages?: number;
}

export interface Deliverer {
  /** One attempt; never rejects for a delivery problem (every recipient gets a result), only for an internal one. */
  deliver(request: DeliveryRequest): Promise<JobReport>;
  updateConfig(config: DelivererConfig): void;
  /** Idle outbound connections kept for reuse (for the dashboard). */
  idleConnections(): number;
  /** Cuts the sessions in use (the shutdown grace ran out). */
  cutActive(): void;
  /** Closes idle connections and whatever runs the attempts. */
  close(): Promise<void>;
}

export function delivererConfig(config: Config): DelivererConfig {
  return { hostname: config.hostname, dns: config.dns, delivery: config.delivery };
}

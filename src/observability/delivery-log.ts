// One emitter for delivery outcomes, the twin of DecisionLog. The delivery
// engine publishes one event per recipient attempt that settles something
// (delivered, deferred for a retry, bounced); the dashboard, the metrics
// registry and the logger subscribe. Publishing never throws: a broken
// subscriber must not break delivery.
import { Subscribers } from './subscribers.ts';

export type DeliveryResult = 'delivered' | 'deferred' | 'bounced';

export interface DeliveryEvent {
  readonly result: DeliveryResult;
  /** Epoch milliseconds when the attempt settled. */
  readonly at: number;
  readonly queueId: string;
  readonly recipient: string;
  /** The recipient's domain, lower-case (per-domain deferrals are keyed on it). */
  readonly domain: string;
  /** The host that answered, when one did. */
  readonly host?: string;
  /** The upstream reply or the local failure, for logs and the dashboard; never secrets. */
  readonly detail?: string;
}

/** One delivery attempt (one connection's worth of recipients for one destination), for latency. */
export interface AttemptEvent {
  readonly durationMs: number;
  /** delivered: every recipient was; otherwise the attempt left some deferred or bounced. */
  readonly result: 'delivered' | 'failed';
}

/** Recipient outcomes (publish/subscribe) and, apart, attempts as a whole (one event per attempt). */
export class DeliveryLog extends Subscribers<DeliveryEvent> {
  readonly #attempts = new Subscribers<AttemptEvent>();

  subscribeAttempts(listener: (event: AttemptEvent) => void): () => void {
    return this.#attempts.subscribe(listener);
  }

  publishAttempt(event: AttemptEvent): void {
    this.#attempts.publish(event);
  }
}

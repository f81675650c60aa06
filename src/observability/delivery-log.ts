// One emitter for delivery outcomes, the twin of DecisionLog. The delivery
// engine publishes one event per recipient attempt that settles something
// (delivered, deferred for a retry, bounced); the dashboard, the metrics
// registry and the logger subscribe. Publishing never throws: a broken
// subscriber must not break delivery.

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

export type DeliveryListener = (event: DeliveryEvent) => void;

/** One delivery attempt (one connection's worth of recipients for one destination), for latency. */
export interface AttemptEvent {
  readonly durationMs: number;
  /** delivered: every recipient was; otherwise the attempt left some deferred or bounced. */
  readonly result: 'delivered' | 'failed';
}

export type AttemptListener = (event: AttemptEvent) => void;

export class DeliveryLog {
  readonly #listeners = new Set<DeliveryListener>();
  readonly #attemptListeners = new Set<AttemptListener>();

  /** Attempts as a whole (one event per attempt, not per recipient). */
  subscribeAttempts(listener: AttemptListener): () => void {
    this.#attemptListeners.add(listener);
    return () => this.#attemptListeners.delete(listener);
  }

  publishAttempt(event: AttemptEvent): void {
    for (const listener of this.#attemptListeners) {
      try {
        listener(event);
      } catch {
        // See the header comment: delivery goes on.
      }
    }
  }

  subscribe(listener: DeliveryListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  publish(event: DeliveryEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // See the header comment: delivery goes on.
      }
    }
  }
}

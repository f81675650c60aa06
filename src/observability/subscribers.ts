// Events to whoever subscribed, where publishing never throws: a broken
// subscriber (a dashboard bug, a metric) must not turn into an SMTP failure
// or stop delivery. The decision log, the delivery log and the queue
// runner's events are each one of these.
export class Subscribers<T> {
  readonly #listeners = new Set<(event: T) => void>();

  subscribe(listener: (event: T) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  publish(event: T): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // See the header comment: the publisher goes on.
      }
    }
  }
}

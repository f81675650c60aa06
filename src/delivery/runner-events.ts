// The queue runner's delivery events (attempts, bounces, removals) to its
// subscribers: the dashboard, metrics, tests.
import type { DeliveryEvent } from './runner-types.ts';

export class RunnerEvents {
  readonly #listeners = new Set<(event: DeliveryEvent) => void>();

  subscribe(listener: (event: DeliveryEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(event: DeliveryEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A subscriber's bug must not stop delivery.
      }
    }
  }
}

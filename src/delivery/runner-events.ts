// The queue runner's delivery events (attempts, bounces, removals) to its
// subscribers: the dashboard, metrics, tests. A subscriber's bug must not
// stop delivery (observability/subscribers.ts).
import type { DeliveryEvent } from './runner-types.ts';
import { Subscribers } from '../observability/subscribers.ts';

export class RunnerEvents extends Subscribers<DeliveryEvent> {}

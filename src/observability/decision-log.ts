// One emitter for every Decision. The logger, the metrics registry and the
// dashboard subscribe; the SMTP adapter and the CLI publish. Publishing never
// throws: a broken subscriber must not turn into an SMTP failure.
import type { Decision } from '../policy/decision.ts';
import { Subscribers } from './subscribers.ts';

export interface DecisionEvent {
  readonly decision: Decision;
  readonly at: number;
  /** The SMTP session id (also in logs) and the client's address. */
  readonly sessionId: string;
  readonly clientIp: string;
  readonly listener?: string;
  readonly helo?: string;
  readonly user?: string;
  readonly sender?: string;
  readonly recipient?: string;
  readonly queueId?: string;
}

export class DecisionLog extends Subscribers<DecisionEvent> {}

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
  /** Who asked: absent for the SMTP front door, "policy service" for a Postfix policy request (src/policy-service), "milter" for a milter callback (src/milter). */
  readonly source?: DecisionSource;
  readonly helo?: string;
  readonly user?: string;
  readonly sender?: string;
  readonly recipient?: string;
  readonly queueId?: string;
}

/** Where a Decision was asked for, when not by the SMTP front door. */
export type DecisionSource = 'policy service' | 'milter';

export class DecisionLog extends Subscribers<DecisionEvent> {}

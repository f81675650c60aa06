// Turns each Decision into one pino JSON line: the log reader of the
// DecisionLog. Refusals at info (they are what an admin greps for), permits
// at info too except the noisy per-stage "continue" (dunno), kept for debug.
import type { Logger } from '../log/logger.ts';
import type { DecisionLog } from './decision-log.ts';

export function logDecisions(decisions: DecisionLog, logger: Logger): () => void {
  return decisions.subscribe((event) => {
    const { decision } = event;
    // "Nothing decided, carry on" (dunno, or the engine's default permit) is
    // one line per stage per connection: debug only.
    const routine = decision.verdict === 'dunno' || (decision.verdict === 'permit' && decision.rule === 'default');
    if (routine && !logger.isLevelEnabled('debug')) return;
    const line = {
      decision: decision.verdict,
      stage: decision.stage,
      rule: decision.rule,
      reason: decision.reason,
      session: event.sessionId,
      client: event.clientIp,
      listener: event.listener,
      source: event.source,
      helo: event.helo,
      user: event.user,
      from: event.sender,
      to: event.recipient,
      queueId: event.queueId,
      reply: decision.reply ? `${decision.reply.code} ${decision.reply.enhanced} ${decision.reply.text}` : undefined,
      ...(decision.detail ? { detail: decision.detail } : {}),
    };
    if (routine) logger.debug(line, 'decision');
    else logger.info(line, 'decision');
  });
}

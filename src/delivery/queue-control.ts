// Carries out `relayguard queue` requests (spool/control.ts) on the running
// queue runner, so the change and the runner's memory never disagree.
import type { ControlReply, ControlSelector, QueueRequest } from '../spool/control.ts';
import type { QueueRunner } from './runner-types.ts';

/** The reason a hold from `relayguard queue hold` records when none is given. */
export const ADMIN_HOLD_REASON = 'held by the administrator';

/** How a selector reads in a reply: "A123", "user alice", "sender <a@b>". */
export function describeSelector(selector: ControlSelector): string {
  if ('id' in selector) return selector.id;
  if ('user' in selector) return `user ${selector.user}`;
  return `sender <${selector.sender === '<>' ? '' : selector.sender.replace(/^<(.*)>$/, '$1')}>`;
}

/** The reply to a hold or release, from the ids it changed. */
export function holdReply(op: 'hold' | 'release', selector: ControlSelector, ids: readonly string[], isHeld: (id: string) => boolean, exists: (id: string) => boolean): ControlReply {
  const verb = op === 'hold' ? 'held' : 'released';
  if ('id' in selector && ids.length === 0) {
    if (!exists(selector.id)) return { ok: false, message: `no message ${selector.id} in the queue` };
    return { ok: false, message: `${selector.id}: ${isHeld(selector.id) ? 'already held' : 'not held'}` };
  }
  if ('id' in selector) return { ok: true, message: `${selector.id}: ${verb}` };
  return { ok: true, message: `${ids.length} message(s) of ${describeSelector(selector)} ${verb}${ids.length > 0 ? `: ${ids.join(' ')}` : ''}` };
}

/** A `relayguard queue` request, carried out by the running server. */
export async function handleControl(runner: QueueRunner, request: QueueRequest): Promise<ControlReply> {
  switch (request.op) {
    case 'retry': {
      if (request.id !== undefined && runner.isHeld(request.id)) return { ok: false, message: `${request.id}: held; relayguard queue release ${request.id} first` };
      const n = await runner.retry(request.id);
      if (request.id !== undefined && n === 0) return { ok: false, message: `no message ${request.id} in the queue` };
      return { ok: true, message: request.id ? `${request.id}: scheduled for delivery now` : `${n} message(s) scheduled for delivery now` };
    }
    case 'delete':
      return (await runner.remove(request.id))
        ? { ok: true, message: `${request.id}: deleted` }
        : { ok: false, message: `no message ${request.id} in the queue` };
    case 'bounce':
      return (await runner.bounce(request.id))
        ? { ok: true, message: `${request.id}: returned to the sender` }
        : { ok: false, message: `no message ${request.id} in the queue` };
    case 'hold': {
      const ids = await runner.hold(request.selector, request.reason ?? ADMIN_HOLD_REASON, request.by ?? 'admin');
      return holdReply('hold', request.selector, ids, (id) => runner.isHeld(id), (id) => runner.exists(id));
    }
    case 'release': {
      const ids = await runner.release(request.selector);
      return holdReply('release', request.selector, ids, (id) => runner.isHeld(id), (id) => runner.exists(id));
    }
  }
}

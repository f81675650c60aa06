// Carries out `relayguard queue` requests (spool/control.ts) on the running
// queue runner, so the change and the runner's memory never disagree.
import type { ControlReply, ControlRequest } from '../spool/control.ts';
import type { QueueRunner } from './runner-types.ts';

/** A `relayguard queue` request, carried out by the running server. */
export async function handleControl(runner: QueueRunner, request: ControlRequest): Promise<ControlReply> {
  switch (request.op) {
    case 'retry': {
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
  }
}

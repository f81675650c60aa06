// `relayguard accounts` requests (spool/control.ts AccountsRequest), carried
// out by the running server on its AccountControl (account-monitor.ts), so the
// change and the detector's memory never disagree. The queue runner's control
// watcher hands them here (main.ts wires it).
import type { AccountsRequest, ControlReply } from '../spool/control.ts';
import type { AccountControl } from './account-control.ts';

export async function handleAccountsControl(control: AccountControl, request: AccountsRequest): Promise<ControlReply> {
  switch (request.op) {
    case 'accounts-list': {
      const suspects = control.suspects();
      return { ok: true, message: `${suspects.length} suspect account(s)`, data: suspects };
    }
    case 'accounts-release': {
      const held = control.suspects().find((s) => s.user === request.user.toLowerCase())?.heldMessages ?? 0;
      if (!(await control.release(request.user, request.by, request.releaseHeld))) return { ok: false, message: `${request.user}: not a suspect account` };
      const mail = request.releaseHeld
        ? `${held} held message(s) released to delivery`
        : `${held} held message(s) stay held (relayguard queue release|delete --user ${request.user})`;
      return { ok: true, message: `${request.user}: released; ${mail}` };
    }
    case 'accounts-lock':
      await control.lock(request.user, request.by);
      return { ok: true, message: `${request.user}: locked (AUTH refused with 535 5.7.8 until relayguard accounts release ${request.user})` };
  }
}

// Test-only builders of policy SessionContexts, as the front door would build them.
import { createSessionContext, type ListenerInfo, type SessionContext } from '../../src/policy/context.ts';
import { prepareMail } from '../../src/policy/engine.ts';
import type { PolicySnapshot } from '../../src/config/snapshot.ts';

export const MX: ListenerInfo = { name: 'mx', role: 'mx', tls: 'starttls', authOffered: false };
export const SUBMISSION: ListenerInfo = { name: 'submission', role: 'submission', tls: 'starttls', authOffered: true };
export const OUR_ADDRESSES = ['192.0.2.25', '2001:db8::25'];

export interface SessionOptions {
  readonly ip: string;
  readonly listener?: ListenerInfo;
  readonly tls?: boolean;
  readonly user?: string;
  readonly helo?: string;
}

export function testSession(options: SessionOptions): SessionContext {
  const ctx = createSessionContext({
    listener: options.listener ?? MX,
    clientIp: options.ip,
    tls: options.tls ?? true,
    hostname: 'relay.example.test',
    ourAddresses: OUR_ADDRESSES,
  });
  return {
    ...ctx,
    ...(options.user !== undefined ? { user: options.user } : {}),
    ...(options.helo !== undefined ? { helo: options.helo } : {}),
  };
}

/** A session that has passed MAIL FROM with `from`. */
export function sessionWithSender(options: SessionOptions, snapshot: PolicySnapshot, from = '<sender@other.example>'): SessionContext {
  const ctx = testSession(options);
  const mail = prepareMail(ctx, snapshot, { address: from });
  if (!mail.ok) throw new Error(`test sender refused: ${mail.decision.reason}`);
  return { ...ctx, sender: mail.ctx.sender, recipients: [] };
}

// The DATA path: our Received: header, the DataGuard (which measures size,
// bare CR/LF, NUL and line lengths as the body streams and asks the session
// driver's end-of-data stage, where the DATA rules decide) and the spool,
// which answers only once the message is on disk. Returns the data-stage
// Decision: data.queued with the queue id, or the rule's refusal.
import type { Readable } from 'node:stream';
import type { SMTPServerDataStream } from 'smtp-server';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { Decision } from '../policy/decision.ts';
import type { SpoolIntake } from '../spool/types.ts';
import { DataGuard, DataRefusedError, type DecideMessage } from './data-guard.ts';
import { formatReceivedHeader } from './received-header.ts';
import { replyFor } from '../policy/replies.ts';
import type { SessionRecord } from '../session/session-record.ts';

export interface IntakeDeps {
  readonly config: Config;
  readonly spool: SpoolIntake;
  readonly logger: Logger;
  readonly now: () => number;
}

export async function takeMessage(
  deps: IntakeDeps,
  state: SessionRecord,
  stream: SMTPServerDataStream,
  decide: DecideMessage,
): Promise<{ decision: Decision; queueId?: string }> {
  const { config } = deps;
  const receivedAt = deps.now();
  // The queue id is chosen now so the Received: header can name it, as
  // Postfix's does: one id follows the message from header to log to spool.
  const queueId = deps.spool.nextId();
  const header = formatReceivedHeader({
    helo: state.helo ?? '',
    clientIp: state.clientIp,
    ourHostname: config.hostname,
    esmtp: state.esmtp,
    tls: state.tls,
    authenticated: state.user !== undefined,
    smtputf8: state.mailParams?.smtputf8 === true,
    queueId,
    recipients: state.recipients,
    date: new Date(receivedAt),
  });
  const guard = new DataGuard({
    header,
    maxBytes: config.smtp.max_message_size,
    // From the connection's snapshot, like the bare-line-endings rule that
    // decides on it: a reload applies to connections opened after it.
    bareLineEndings: state.snapshot.config.smtp.bare_line_endings,
    maxLineLength: config.smtp.max_line_length,
    decide,
  });
  // Keep draining what the client sends even after a refusal, so the reply
  // comes after its final dot and the session stays in step.
  stream.on('error', (error) => guard.destroy(error));
  stream.pipe(guard);
  const sender = state.sender ?? '';
  const envelope = {
    sender,
    recipients: [...state.recipients],
    clientIp: state.clientIp,
    helo: state.helo ?? '',
    listener: state.listener.name,
    receivedAt,
    sessionId: state.sessionId,
    ...(state.user ? { authUser: state.user } : {}),
    // Issue 21: what the client declared, for delivery to honour (absent when nothing was).
    ...(state.mailParams && Object.keys(state.mailParams).length > 0 ? { esmtp: { ...state.mailParams } } : {}),
    ...(state.recipientDsn?.some((dsn) => dsn !== null) ? { recipientDsn: [...state.recipientDsn] } : {}),
    // With recipient verification on: what the backscatter guard needs (delivery/backscatter.ts).
    ...(state.senderChecks
      ? {
          origin: {
            trusted: state.user !== undefined || state.snapshot.relayNetworks.contains(state.clientIp),
            dnsblPassed: state.senderChecks.dnsblPassed,
            senderDomainResolves: state.senderChecks.senderDomainResolves,
            verified: true,
          },
        }
      : {}),
  };
  try {
    // A hold asked for by a rule or trigger is written with the message (spool AcceptOptions.hold).
    const hold = state.hold
      ? { at: receivedAt, until: receivedAt + state.snapshot.config.delivery.hold_lifetime, reason: state.hold.reason, by: state.hold.by }
      : undefined;
    await deps.spool.accept(envelope, guard as Readable, { id: queueId, ...(hold ? { hold } : {}) });
    state.messages++;
    // This decision's log line is the one line per queued message: it names
    // every recipient as spooled (normalised) and whether the client used TLS.
    return {
      decision: {
        verdict: 'permit',
        stage: 'data',
        rule: 'spool',
        reason: 'data.queued',
        detail: { queueId, recipients: envelope.recipients.length, to: envelope.recipients, tls: state.tls, ...(hold ? { held: hold.reason, heldBy: hold.by } : {}) },
      },
      queueId,
    };
  } catch (error) {
    stream.unpipe(guard);
    stream.resume();
    const refused = guard.refused ?? (error instanceof DataRefusedError ? error : null);
    if (refused?.decision) return { decision: refused.decision };
    if (stream.sizeExceeded) {
      // smtp-server counted more than the guard saw: the rules judge its count.
      const decision = decide({ ...guard.facts, size: Math.max(guard.facts.size, stream.byteLength) });
      if (decision.verdict === 'reject' || decision.verdict === 'defer') return { decision };
    }
    deps.logger.error({ session: state.sessionId, err: error }, 'spool write failed; message refused with 451');
    return { decision: { verdict: 'defer', stage: 'data', rule: 'spool', reason: 'data.spool_error', reply: replyFor('data.spool_error') } };
  }
}

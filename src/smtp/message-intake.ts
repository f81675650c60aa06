// The DATA path: our Received: header, the DataGuard (size, bare CR/LF, NUL,
// line length) and the spool, which answers only once the message is on disk.
// Returns the data-stage Decision: data.queued with the queue id, or why not.
import type { Readable } from 'node:stream';
import type { SMTPServerDataStream } from 'smtp-server';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { Decision, Reply } from '../policy/decision.ts';
import { replyFor } from '../policy/replies.ts';
import type { SpoolIntake } from '../spool/types.ts';
import { DataGuard, DataRefusedError } from './data-guard.ts';
import { formatReceivedHeader } from './received-header.ts';
import { INTERNAL_ERROR } from './front-door-decisions.ts';
import type { SessionRecord } from '../session/session-record.ts';

export interface IntakeDeps {
  readonly config: Config;
  readonly spool: SpoolIntake;
  readonly logger: Logger;
  readonly now: () => number;
}

const SIZE_EXCEEDED: Decision = {
  verdict: 'reject',
  stage: 'data',
  rule: 'max_message_size',
  reason: 'data.size_exceeded',
  reply: replyFor('data.size_exceeded'),
};

const CONTENT_RULES: Record<string, { rule: string; reply: Reply }> = {
  DATA_BARE_LINE_ENDING: { rule: 'bare_line_endings', reply: replyFor('data.bare_line_ending') },
  DATA_NUL: { rule: 'nul_bytes', reply: replyFor('data.bad_content:nul') },
  DATA_LINE_TOO_LONG: { rule: 'max_line_length', reply: replyFor('data.bad_content:line_length') },
};

function contentRefusal(refused: DataRefusedError): Decision {
  const { rule, reply } = CONTENT_RULES[refused.code] ?? { rule: 'data', reply: replyFor('data.bad_content') };
  return {
    verdict: 'reject',
    stage: 'data',
    rule,
    reason: refused.code === 'DATA_BARE_LINE_ENDING' ? 'data.bare_line_ending' : 'data.bad_content',
    reply,
    detail: { problem: refused.message },
  };
}

export async function takeMessage(deps: IntakeDeps, state: SessionRecord, stream: SMTPServerDataStream): Promise<{ decision: Decision; queueId?: string }> {
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
    queueId,
    recipients: state.recipients,
    date: new Date(receivedAt),
  });
  const guard = new DataGuard({
    header,
    maxBytes: config.smtp.max_message_size,
    bareLineEndings: config.smtp.bare_line_endings,
    maxLineLength: config.smtp.max_line_length,
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
  };
  try {
    await deps.spool.accept(envelope, guard as Readable, { id: queueId });
    state.messages++;
    // This decision's log line is the one line per queued message: it names
    // every recipient as spooled (normalised) and whether the client used TLS.
    return {
      decision: {
        verdict: 'permit',
        stage: 'data',
        rule: 'spool',
        reason: 'data.queued',
        detail: { queueId, recipients: envelope.recipients.length, to: envelope.recipients, tls: state.tls },
      },
      queueId,
    };
  } catch (error) {
    stream.unpipe(guard);
    stream.resume();
    const refused = guard.refused ?? (error instanceof DataRefusedError ? error : null);
    if (stream.sizeExceeded || refused?.code === 'DATA_TOO_LARGE') return { decision: SIZE_EXCEEDED };
    if (refused) return { decision: contentRefusal(refused) };
    deps.logger.error({ session: state.sessionId, err: error }, 'spool write failed; message refused with 451');
    return { decision: { verdict: 'defer', stage: 'data', rule: 'spool', reason: 'data.spool_error', reply: INTERNAL_ERROR } };
  }
}

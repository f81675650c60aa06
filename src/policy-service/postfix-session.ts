// The SessionRecord of an SMTP session that an existing Postfix runs and
// relayguard only judges (the policy service, the milter): no transport of
// ours, so the listener is a synthetic one named after the source, judged as
// a submission listener when Postfix's server port is one of the configured
// submission ports, as MX otherwise.
import type { PolicySnapshot } from '../config/snapshot.ts';
import type { SessionRecord } from '../session/session-record.ts';

export interface PostfixSessionInput {
  readonly sessionId: string;
  /** "policy-service", "milter": the listener name decisions are logged with (":submission" is added for a submission port). */
  readonly source: string;
  readonly clientIp: string;
  readonly clientPort: number;
  /** Postfix's own address and port for this session (0 when it did not say). */
  readonly serverIp: string;
  readonly serverPort: number;
  readonly submissionPorts: readonly number[];
  readonly tls: boolean;
  readonly snapshot: PolicySnapshot;
  readonly now: number;
}

export function postfixSessionRecord(input: PostfixSessionInput): SessionRecord {
  const submission = input.serverPort > 0 && input.submissionPorts.includes(input.serverPort);
  return {
    sessionId: input.sessionId,
    listener: {
      name: submission ? `${input.source}:submission` : input.source,
      address: { host: input.serverIp, port: input.serverPort },
      role: submission ? 'submission' : 'mx',
      tls: 'starttls',
      proxy_protocol_from: [],
      authOffered: submission,
    },
    clientIp: input.clientIp,
    clientPort: input.clientPort,
    peerIp: input.clientIp,
    localIp: input.serverIp,
    localPort: input.serverPort,
    connectedAt: input.now,
    snapshot: input.snapshot,
    tls: input.tls,
    esmtp: false,
    recipients: [],
    rejectedRecipients: 0,
    errors: 0,
    messages: 0,
  };
}

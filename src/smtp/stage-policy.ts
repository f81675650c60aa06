// The front door's view of policy: one async call per SMTP stage, each
// returning a Decision. The composition root implements it with the pure
// engine plus the facts (DNSBL, counters) it gathers; the front door only turns
// Decisions into replies and never decides anything itself.
import type { Decision } from '../policy/decision.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';
import type { ListenerConfig } from '../config/schema.ts';

/** Per-connection state. Mutated only by the front door, read by policy. */
export interface SessionState {
  readonly sessionId: string;
  readonly listener: ListenerConfig & { readonly name: string; readonly authOffered: boolean };
  readonly clientIp: string;
  readonly clientPort: number;
  /** The TCP peer (the load balancer when PROXY protocol is in use). */
  readonly peerIp: string;
  readonly localIp: string;
  readonly localPort: number;
  readonly connectedAt: number;
  /** The snapshot this connection started with; a reload never changes it. */
  readonly snapshot: PolicySnapshot;
  tls: boolean;
  helo?: string;
  esmtp: boolean;
  user?: string;
  /** Normalised MAIL FROM of the current transaction; "" is the null sender. */
  sender?: string;
  /** Declared SIZE of the current transaction. */
  declaredSize?: number;
  /** Recipients accepted in the current transaction (normalised). */
  recipients: string[];
  rejectedRecipients: number;
  /** Errors so far (refused commands and recipients), for tarpitting. */
  errors: number;
  messages: number;
  /** Facts a policy may keep for the life of the connection (DNSBL handle, counters). */
  readonly facts: Map<string, unknown>;
}

export interface AuthAttempt {
  readonly method: string;
  readonly username: string;
  readonly password: string;
}

export interface StagePolicy {
  connect(session: SessionState): Promise<Decision>;
  auth(session: SessionState, attempt: AuthAttempt): Promise<{ decision: Decision; user?: string }>;
  /** `raw` is the text between < and > exactly as the client sent it. */
  mail(session: SessionState, raw: string, params: Readonly<Record<string, string | true>>): Promise<{ decision: Decision; sender?: string }>;
  rcpt(session: SessionState, raw: string): Promise<{ decision: Decision; recipient?: string }>;
  /** Before the message body is read (DATA command). */
  data(session: SessionState): Promise<Decision>;
  /** The connection is gone: release counters and handles. */
  close(session: SessionState): void;
}

// The one record of an SMTP session: what the front door knows of the
// connection (transport, TLS, HELO, the transaction's envelope as strings)
// and what the session driver keeps for the engine (the SessionContext as
// stages pass, the facts handle opened at connect, and, when asked for, every
// Decision in order). `serve` and `explain` both walk one of these through
// the driver; nothing else keeps per-session state.
import type { Decision } from '../policy/decision.ts';
import type { SessionContext } from '../policy/context.ts';
import type { MessageFacts } from '../policy/facts.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';
import type { ListenerConfig } from '../config/schema.ts';
import type { SessionFacts } from '../facts/session-facts.ts';

export interface SessionRecord {
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
  /**
   * What the checks of the current transaction found about its sender, for
   * the spool envelope's `origin` (issue 16 item 2: may a later backend
   * refusal be bounced?). Set by the driver at MAIL and RCPT.
   */
  senderChecks?: { senderDomainResolves: boolean; dnsblPassed: boolean };
  rejectedRecipients: number;
  /** Errors so far (refused commands and recipients), for tarpitting. */
  errors: number;
  messages: number;
  /** The front door is receiving this session's message body. */
  inData?: boolean;
  /** Already told 421 for reaching smtp.max_errors. */
  capped?: boolean;
  /** The front door's smtp.transaction_timeout timer. */
  lifetime?: NodeJS.Timeout;
  /** The engine's view of the session; set by the driver at connect, advanced as stages pass. */
  engine?: EngineView;
  /** When present, the driver appends every Decision it makes, in order (explain reads it). */
  trace?: Decision[];
}

export interface EngineView {
  ctx: SessionContext;
  readonly facts: SessionFacts;
}

export interface AuthAttempt {
  readonly method: string;
  readonly username: string;
  readonly password: string;
}

/** What the front door hands the driver at each SMTP stage; the driver answers with Decisions. */
export interface SessionStages {
  connect(session: SessionRecord): Promise<Decision>;
  auth(session: SessionRecord, attempt: AuthAttempt): Promise<{ decision: Decision; user?: string }>;
  /** `raw` is the text between < and > exactly as the client sent it. HELO is judged here too. */
  mail(session: SessionRecord, raw: string, params: Readonly<Record<string, string | true>>): Promise<{ decision: Decision; sender?: string }>;
  rcpt(session: SessionRecord, raw: string): Promise<{ decision: Decision; recipient?: string }>;
  /** Before the message body is read (DATA command). */
  data(session: SessionRecord): Promise<Decision>;
  /** The body so far, as measured by the front door (size, line endings, NUL, line lengths). */
  endOfData(session: SessionRecord, message: MessageFacts): Decision;
  /** The connection is gone: release counters and handles. */
  close(session: SessionRecord): void;
}

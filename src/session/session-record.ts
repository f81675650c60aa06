// The one record of an SMTP session: what the front door knows of the
// connection (transport, TLS, HELO, the transaction's envelope as strings)
// and what the session driver keeps for the engine (the SessionContext as
// stages pass, the facts handle opened at connect, and, when asked for, every
// Decision in order). `serve` and `explain` both walk one of these through
// the driver; nothing else keeps per-session state.
import type { Decision } from '../policy/decision.ts';
import type { SessionContext, SessionSource } from '../policy/context.ts';
import type { Facts, MessageFacts } from '../policy/facts.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';
import type { ListenerConfig } from '../config/schema.ts';
import type { SessionFacts } from '../facts/session-facts.ts';
import type { EsmtpParameters, RecipientDsn } from '../spool/types.ts';

export interface SessionRecord {
  readonly sessionId: string;
  /** `source`: see ListenerInfo (policy/context.ts); absent for relayguard's own SMTP listeners. */
  readonly listener: ListenerConfig & { readonly name: string; readonly authOffered: boolean; readonly source?: SessionSource };
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
  /** The MAIL FROM parameters of the current transaction that travel with the message (issue 21). */
  mailParams?: EsmtpParameters;
  /** DSN parameters of the accepted recipients, index-parallel to `recipients` (null: none given). */
  recipientDsn?: (RecipientDsn | null)[];
  /**
   * The parameters of the MAIL FROM / RCPT TO command being run, as the
   * front door's parameter check parsed them; taken by its MAIL/RCPT handler.
   */
  pendingParams?: { readonly esmtp: EsmtpParameters } | { readonly dsn: RecipientDsn | null };
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
  /**
   * Store this session's messages held (issue 19): accepted with the usual
   * 250, never delivered until an administrator releases them or the hold
   * expires. For a rule or trigger (account anomalies) that wants the mail
   * kept without telling the client; the front door's intake reads it.
   */
  hold?: { readonly reason: string; readonly by: string };
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
  /**
   * When present, the driver appends one step per stage call: what the client
   * sent, the facts gathered for it and the Decisions made (the decision
   * journal encodes these at close; `relayguard replay` walks them again).
   */
  steps?: SessionStep[];
}

/** The driver call a step records (HELO is judged inside `mail`; `eod` is end of data). */
export type StepCall = 'connect' | 'auth' | 'mail' | 'rcpt' | 'data' | 'eod';

/**
 * One driver call with what it was given and what it decided. Never holds a
 * password or message content. A new fact is a new optional field of Facts
 * (policy/facts.ts), so a step stays readable by older and newer readers.
 */
export interface SessionStep {
  readonly call: StepCall;
  /** AUTH user name, or the MAIL/RCPT address exactly as sent (between < and >). */
  readonly input?: string;
  /** AUTH mechanism. */
  readonly mechanism?: string;
  /** MAIL parameters as sent (SIZE, BODY, ...). */
  readonly params?: Readonly<Record<string, string | true>>;
  /** Session state the stage saw (AUTH and MAIL): TLS, the HELO name, EHLO or HELO. */
  readonly tls?: boolean;
  readonly helo?: string;
  readonly esmtp?: boolean;
  /**
   * MAIL of a policy-service session: the user Postfix authenticated
   * (sasl_username). No AUTH call of ours made it, so replay takes it as
   * given; at relayguard's own front door the AUTH step says who logged in.
   */
  readonly user?: string;
  /** Facts gathered for this call (every stage the call evaluated, merged). */
  readonly facts: Facts;
  /** The Decisions in order (MAIL: the HELO decision first when HELO was judged). */
  readonly decisions: Decision[];
}

/** Where a closed session's record goes (the decision journal); must never throw or block. */
export interface SessionJournal {
  /** `closedAt`: when the session ended, if not now (a policy-service session ends at its last request). */
  record(session: SessionRecord, closedAt?: number): void;
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

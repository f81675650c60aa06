// Runs Postfix policy requests through the one session driver (src/session),
// keeping what a front door would keep between commands.
//
// Postfix sends one request per restriction-list evaluation (with
// smtpd_delay_reject, all of them at RCPT time), over a policy connection it
// reuses for many SMTP sessions. So the state lives here, not on the policy
// connection:
//   an SMTP session   keyed by client_address, client_port, server_address and
//                     server_port (by instance alone when Postfix sends no
//                     client_port): a SessionRecord that went through the
//                     driver's connect stage once, so the connection rate
//                     counts and the DNSBL lookups started at connect are per
//                     session;
//   a message         keyed by `instance` (Postfix's id of one MAIL
//                     transaction): MAIL (with HELO, judged there as the
//                     front door does) runs once per instance, each distinct
//                     recipient once; a repeated question gets the answer
//                     already given, so a message with 10 recipients counts
//                     as one message and 10 recipients however often Postfix asks.
// Postfix never says when its SMTP session ends; a session is closed (its
// message counts settled, its journal record written) `session_idle` after its
// last request, and the table holds at most `max_sessions` (the least recently
// used goes first). So a session here is not an open connection: its listener
// is marked `source: 'policy service'` and the limits provider does not count
// it as open (ip.max_connections, global.max_connections are Postfix's to
// enforce, smtpd_client_connection_count_limit); the connection rate counts
// each session once. Ending a session on a new `instance` would be wrong
// (instance is per message), and a CONNECT request comes only when
// check_policy_service is in smtpd_client_restrictions with
// smtpd_delay_reject = no, so neither can mark the end.
//
// A client port is reused, though (a busy client opens thousands of sessions
// to one Postfix), and Postfix's `instance` tells a new SMTP session from the
// held one with the same key: smtpd writes it as pid.seconds.microseconds.seqno
// at each MAIL, seqno counting from 0 in every SMTP session, and one smtpd
// process serves one session at a time. So a request names a new session
// when its instance has another pid, or differs with a seqno no higher than
// the last one seen, or is empty (before MAIL) after the held session had
// one. The held session is then closed and a new one starts (its connection
// rate counted). An instance not in that form (not Postfix's smtpd) never
// ends a session this way.
//
// With the decision journal on, a session's steps go to it when the session
// closes (marked `src: "policy service"`, its duration ending at its last
// request), so `relayguard replay` and `explain --replay` walk it again.
//
// A message counts in the message-rate windows once it has a permitted
// recipient: the driver's DATA stage runs then (the limits provider keeps a
// message counted once DATA passes; without it a later MAIL would take the
// count back). The DATA and END-OF-MESSAGE requests, when Postfix sends them,
// run the driver's DATA and end-of-data stages; at end of data only the size
// is known (the body is Postfix's: bare line endings, NUL and line-length
// rules need a content filter, which this is not).
import type { Decision } from '../policy/decision.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';
import type { Config } from '../config/schema.ts';
import type { SessionJournal, SessionRecord, SessionStages } from '../session/session-record.ts';
import { normalizeIp } from '../net/ip-text.ts';
import type { PolicyRequest } from './attribute-reader.ts';
import { postfixSessionRecord } from './postfix-session.ts';

export type PolicyStage = 'connect' | 'helo' | 'mail' | 'rcpt' | 'data' | 'end-of-message';

const STAGES: Readonly<Record<string, PolicyStage>> = {
  CONNECT: 'connect',
  EHLO: 'helo',
  HELO: 'helo',
  MAIL: 'mail',
  RCPT: 'rcpt',
  DATA: 'data',
  'END-OF-MESSAGE': 'end-of-message',
};

export function policyStage(request: PolicyRequest): PolicyStage | undefined {
  return STAGES[(request.get('protocol_state') ?? '').toUpperCase()];
}

/** What one request decided, and the Decisions it made that are new (to publish). */
export interface Evaluation {
  /** The Decision the answer carries. */
  readonly decision: Decision;
  /** Decisions made for this request, in order (none when the answer was remembered). */
  readonly fresh: ReadonlyArray<{ readonly decision: Decision; readonly sender?: string; readonly recipient?: string }>;
  readonly session: SessionRecord;
  /** The first permitted recipient of its message (where a PREPEND goes). */
  readonly firstPermittedRecipient: boolean;
}

interface MessageState {
  readonly instance: string;
  readonly sender: string;
  mail?: Decision;
  readonly recipients: Map<string, Decision>;
  counted: boolean;
  data?: Decision;
  endOfMessage?: Decision;
}

interface PolicySession {
  readonly key: string | undefined;
  readonly record: SessionRecord;
  connect?: Decision;
  message?: MessageState;
  lastUsed: number;
  /** The last non-empty `instance` seen (what tells a new session on a reused client port). */
  lastInstance?: string;
  /** Requests of one session run one after the other (a late one must not overtake). */
  chain: Promise<unknown>;
}

export interface PolicySessionsOptions {
  readonly config: Config;
  readonly driver: SessionStages;
  readonly currentSnapshot: () => PolicySnapshot;
  /** The policy listener's own address (the session's local address when Postfix sends no server_address). */
  readonly localAddress: () => string;
  /** The decision journal: each closed session's steps go to it (src/journal). */
  readonly journal?: SessionJournal;
  readonly now?: () => number;
}

/**
 * An address as the driver takes it (the text between < and >, as the front
 * door passes it and the journal records it); one with a space or bracket
 * keeps its brackets, so the address parser judges it as a whole.
 */
const asPath = (address: string): string => (/[\s<>]/.test(address) ? `<${address}>` : address);

const refused = (decision: Decision): boolean => decision.verdict === 'reject' || decision.verdict === 'defer';
/** Recipients remembered per message; past it a repeated recipient is evaluated again (and counted again). */
const MAX_REMEMBERED_RECIPIENTS = 1000;

export class PolicySessions {
  readonly #options: PolicySessionsOptions;
  readonly #sessions = new Map<string, PolicySession>();
  readonly #sweeper: NodeJS.Timeout;
  #sequence = 0;

  constructor(options: PolicySessionsOptions) {
    this.#options = options;
    const idle = options.config.policy_service.session_idle;
    this.#sweeper = setInterval(() => this.sweep(), Math.max(100, Math.min(idle, 5000)));
    this.#sweeper.unref();
  }

  get size(): number {
    return this.#sessions.size;
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }

  /** Evaluates one request whose stage is known and whose client_address parsed. */
  evaluate(request: PolicyRequest, stage: PolicyStage, clientIp: string): Promise<Evaluation> {
    const session = this.#session(request, clientIp);
    const run = session.chain.then(() => this.#run(session, request, stage));
    session.chain = run.catch(() => undefined);
    return run.finally(() => {
      session.lastUsed = this.#now();
      if (session.key === undefined) this.#close(session);
    });
  }

  /** Closes sessions idle for longer than session_idle. */
  sweep(): void {
    const cutoff = this.#now() - this.#options.config.policy_service.session_idle;
    for (const [key, session] of this.#sessions) {
      if (session.lastUsed >= cutoff) continue;
      this.#sessions.delete(key);
      void session.chain.then(() => this.#close(session));
    }
  }

  close(): void {
    clearInterval(this.#sweeper);
    for (const session of this.#sessions.values()) this.#close(session);
    this.#sessions.clear();
  }

  #close(session: PolicySession): void {
    if (!session.connect) return;
    this.#options.driver.close(session.record);
    this.#options.journal?.record(session.record, session.lastUsed);
  }

  #session(request: PolicyRequest, clientIp: string): PolicySession {
    const key = sessionKey(request, clientIp);
    if (key !== undefined) {
      let known = this.#sessions.get(key);
      if (known && startsNewSession(known.lastInstance, request.get('instance') ?? '')) {
        // The client port was reused for a new SMTP session: the held one has ended.
        const ended = known;
        this.#sessions.delete(key);
        void ended.chain.then(() => this.#close(ended));
        known = undefined;
      }
      if (known) {
        // Most recently used last: the first entry is the one to drop.
        this.#sessions.delete(key);
        this.#sessions.set(key, known);
        known.lastUsed = this.#now();
        const instance = request.get('instance');
        if (instance) known.lastInstance = instance;
        return known;
      }
    }
    const instance = request.get('instance');
    const session: PolicySession = {
      key,
      record: this.#record(request, clientIp),
      lastUsed: this.#now(),
      chain: Promise.resolve(),
      ...(instance ? { lastInstance: instance } : {}),
    };
    if (key !== undefined) {
      this.#sessions.set(key, session);
      const max = this.#options.config.policy_service.max_sessions;
      while (this.#sessions.size > max) {
        const [oldestKey, oldest] = this.#sessions.entries().next().value as [string, PolicySession];
        this.#sessions.delete(oldestKey);
        void oldest.chain.then(() => this.#close(oldest));
      }
    }
    return session;
  }

  #record(request: PolicyRequest, clientIp: string): SessionRecord {
    const serverPort = Number(request.get('server_port') ?? '');
    const clientPort = Number(request.get('client_port') ?? '0');
    const record = postfixSessionRecord({
      sessionId: `policy-${process.pid.toString(36)}-${(++this.#sequence).toString(36)}`,
      source: 'policy-service',
      clientIp,
      clientPort: Number.isInteger(clientPort) ? clientPort : 0,
      serverIp: normalizeIp(request.get('server_address') ?? '') ?? this.#options.localAddress(),
      serverPort: Number.isInteger(serverPort) ? serverPort : 0,
      submissionPorts: this.#options.config.policy_service.submission_ports,
      tls: false,
      snapshot: this.#options.currentSnapshot(),
      now: this.#now(),
    });
    // Marked so that the limits provider does not count it as an open
    // connection (Postfix never says when its session ends; see the top).
    return { ...record, listener: { ...record.listener, source: 'policy service' }, ...(this.#options.journal ? { steps: [] } : {}) };
  }

  async #run(session: PolicySession, request: PolicyRequest, stage: PolicyStage): Promise<Evaluation> {
    const { driver } = this.#options;
    const record = session.record;
    const fresh: Array<{ decision: Decision; sender?: string; recipient?: string }> = [];
    const done = (decision: Decision, firstPermittedRecipient = false): Evaluation => ({ decision, fresh, session: record, firstPermittedRecipient });

    // What Postfix knows of the session by now (each request carries all of it).
    const helo = request.get('helo_name');
    if (helo) {
      record.helo = helo;
      record.esmtp = true;
    }
    if (request.get('encryption_protocol')) record.tls = true;
    const user = request.get('sasl_username');
    if (user) record.user = user;

    if (!session.connect) {
      session.connect = await driver.connect(record);
      fresh.push({ decision: session.connect });
    }
    if (refused(session.connect) || stage === 'connect' || stage === 'helo') return done(session.connect);

    const instance = request.get('instance') ?? '';
    const sender = request.get('sender') ?? '';
    let message = session.message;
    if (!message || message.instance !== instance || instance === '' || message.sender !== sender) {
      message = { instance, sender, recipients: new Map(), counted: false };
      session.message = message;
      record.sender = undefined;
      record.recipients = [];
      record.declaredSize = undefined;
    }
    if (!message.mail) {
      const size = Number(request.get('size') ?? '');
      const params: Record<string, string> = Number.isInteger(size) && size > 0 ? { SIZE: String(size) } : {};
      record.declaredSize = params.SIZE === undefined ? undefined : size;
      const mail = await driver.mail(record, asPath(sender), params);
      message.mail = mail.decision;
      fresh.push({ decision: mail.decision, sender });
      if (!refused(mail.decision)) record.sender = mail.sender ?? sender;
    }
    if (refused(message.mail) || stage === 'mail') return done(message.mail);

    if (stage === 'rcpt') {
      const recipient = request.get('recipient') ?? '';
      const known = message.recipients.get(recipient);
      if (known) return done(known);
      const rcpt = await driver.rcpt(record, asPath(recipient));
      if (message.recipients.size < MAX_REMEMBERED_RECIPIENTS) message.recipients.set(recipient, rcpt.decision);
      fresh.push({ decision: rcpt.decision, sender, recipient });
      if (refused(rcpt.decision)) {
        record.rejectedRecipients++;
        return done(rcpt.decision);
      }
      const accepted = rcpt.recipient ?? recipient;
      if (!record.recipients.includes(accepted)) record.recipients.push(accepted);
      const first = !message.counted;
      if (first) {
        // The message counts from its first permitted recipient (see the header).
        message.counted = true;
        await driver.data(record);
      }
      return done(rcpt.decision, first);
    }

    if (stage === 'data') {
      if (!message.data) {
        message.data = await driver.data(record);
        fresh.push({ decision: message.data, sender });
      }
      return done(message.data);
    }

    if (!message.endOfMessage) {
      const size = Number(request.get('size') ?? '0');
      // Only the size is known here: the body went to Postfix (see the header).
      message.endOfMessage = driver.endOfData(record, { size: Number.isFinite(size) && size > 0 ? size : 0, bareLineEnding: false });
      fresh.push({ decision: message.endOfMessage, sender });
      if (!refused(message.endOfMessage)) record.messages++;
    }
    return done(message.endOfMessage);
  }
}

/** The SMTP session a request belongs to (undefined: no way to tell, a one-off). */
function sessionKey(request: PolicyRequest, clientIp: string): string | undefined {
  const port = request.get('client_port');
  if (port) return `${clientIp}|${port}|${request.get('server_address') ?? ''}|${request.get('server_port') ?? ''}`;
  const instance = request.get('instance');
  return instance ? `instance|${clientIp}|${instance}` : undefined;
}

/** Postfix smtpd's instance: pid.seconds.microseconds.seqno, in hex (smtpd.c, mail_cmd). */
const POSTFIX_INSTANCE = /^([0-9a-f]+)\.[0-9a-f]+\.[0-9a-f]+\.([0-9a-f]+)$/i;

/** Whether a request with `instance` belongs to a new SMTP session, not to the held one that last saw `last` (see the header). */
export function startsNewSession(last: string | undefined, instance: string): boolean {
  if (last === undefined || instance === last) return false;
  const before = POSTFIX_INSTANCE.exec(last);
  if (!before) return false;
  if (instance === '') return true;
  const now = POSTFIX_INSTANCE.exec(instance);
  if (!now) return false;
  if (now[1]?.toLowerCase() !== before[1]?.toLowerCase()) return true;
  return Number.parseInt(now[2] ?? '0', 16) <= Number.parseInt(before[2] ?? '0', 16);
}

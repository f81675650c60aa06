// The front door: one smtp-server per configured listener. Turns smtp-server
// callbacks into calls to the session driver (src/session, the one place that
// decides) and its Decisions into replies, hands DATA to message-intake.ts
// (which measures the body for the end-of-data stage, adds our Received
// header and spools), answers 250 only once the spool has the message on
// disk. It never decides and never delivers.
import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { ListenerConfig, Config } from '../config/schema.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';
import type { Logger } from '../log/logger.ts';
import type { DecisionLog } from '../observability/decision-log.ts';
import type { Decision, Reply } from '../policy/decision.ts';
import type { MessageFacts } from '../policy/facts.ts';
import { internalError } from '../policy/engine.ts';
import type { SpoolIntake } from '../spool/types.ts';
import { replyFor, replyText } from '../policy/replies.ts';
import { RelaySmtpServer } from './relay-smtp-server.ts';
import { takeMessage } from './message-intake.ts';
import { AUTH_TLS_REQUIRED, EARLY_TALKER, INTERNAL_ERROR, PIPELINING_VIOLATION, SHUTTING_DOWN, TOO_MANY_ERRORS } from './front-door-decisions.ts';
import type { SessionJournal, SessionRecord, SessionStages } from '../session/session-record.ts';
import type { TlsMaterial } from './tls-material.ts';
import { buildProxyTrust } from './proxy-trust.ts';
import { Listener } from './listener.ts';
import { socketIp } from '../net/ip-text.ts';
import { offeredExtensions, parseMailParams, parseRcptParams, smtpServerHideOptions, type ExtensionKeyword, type OfferContext } from './extensions.ts';
import { reject } from '../policy/decision.ts';

export interface FrontDoorDeps {
  readonly config: Config;
  /** The snapshot a new connection starts with. */
  readonly currentSnapshot: () => PolicySnapshot;
  /** The session driver (src/session): every stage's Decision comes from it. */
  readonly driver: SessionStages;
  readonly spool: SpoolIntake;
  readonly tls: TlsMaterial;
  readonly logger: Logger;
  readonly decisions: DecisionLog;
  /** The decision journal: each closed session's steps go to it (src/journal). */
  readonly journal?: SessionJournal;
  readonly now?: () => number;
}

type SmtpCallbackError = Error & { responseCode?: number };

export function replyError(reply: Reply): SmtpCallbackError {
  const error: SmtpCallbackError = new Error(`${reply.enhanced} ${reply.text}`);
  error.responseCode = reply.code;
  return error;
}

/**
 * Running totals for /metrics, read at scrape time: plain numbers bumped once
 * per event (no allocation on the SMTP path).
 */
export interface FrontDoorCounters {
  /** Connections smtp-server handed to us (before any policy). */
  connectionsOpened: number;
  /** Of those, refused at connect (policy reject/defer, or shutting down). */
  connectionsRefused: number;
  /** Closed connections that had TLS (implicit or STARTTLS) by the end, and those that did not. */
  closedWithTls: number;
  closedWithoutTls: number;
  /** DATA bytes received from clients (whether the message was then queued or refused). */
  bytesReceived: number;
}

export class FrontDoor {
  readonly #deps: FrontDoorDeps;
  readonly counters: FrontDoorCounters = { connectionsOpened: 0, connectionsRefused: 0, closedWithTls: 0, closedWithoutTls: 0, bytesReceived: 0 };
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #listeners: Listener[] = [];
  #draining = false;

  constructor(deps: FrontDoorDeps) {
    this.#deps = deps;
    for (const listener of deps.config.listeners) this.#listeners.push(this.#createListener(listener));
  }

  /** Binds every listener; resolves with their actual addresses (port 0 → real port). */
  async listen(): Promise<Array<{ name: string; host: string; port: number }>> {
    return Promise.all(this.#listeners.map((listener) => listener.listen()));
  }

  get listening(): boolean {
    return this.#listeners.length > 0 && this.#listeners.every((listener) => listener.listening);
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  addresses(): Array<{ name: string; host: string; port: number }> {
    return this.#listeners.map((listener) => listener.address());
  }

  /**
   * SIGTERM: stop accepting, let transactions in flight finish within the
   * grace period, tell idle clients 421, then close what is left.
   */
  async close(graceMs = this.#deps.config.smtp.shutdown_grace): Promise<void> {
    this.#draining = true;
    await Promise.all(this.#listeners.map((listener) => listener.stopAccepting()));
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
      let busy = 0;
      for (const listener of this.#listeners) busy += listener.closeIdle((id) => this.#inTransaction(id));
      if (busy === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await Promise.all(this.#listeners.map((listener) => listener.closeAll()));
  }

  #inTransaction(sessionId: string): boolean {
    const state = this.#sessions.get(sessionId);
    return state !== undefined && (state.inData === true || state.sender !== undefined);
  }

  #createListener(listener: ListenerConfig): Listener {
    const { config } = this.#deps;
    const name = listener.name ?? `${listener.role}:${listener.address.port}`;
    const authOffered = listener.auth ?? listener.role === 'submission';
    const listenerInfo = { ...listener, name, authOffered };
    const proxyTrusted = buildProxyTrust(listener.proxy_protocol_from);
    // The extensions offered on this listener, before and after TLS (the table is pure; two sets per listener).
    const offerFor = (tls: boolean): OfferContext => ({ starttlsListener: listener.tls === 'starttls', tls, authOffered });
    const offeredSets = [offeredExtensions(offerFor(false)), offeredExtensions(offerFor(true))] as const;
    const offered = (secure: boolean): ReadonlySet<ExtensionKeyword> => offeredSets[secure ? 1 : 0];
    const server = new RelaySmtpServer({
      name: config.hostname,
      banner: 'relayguard',
      secure: listener.tls === 'implicit',
      key: this.#deps.tls.key,
      cert: this.#deps.tls.cert,
      size: config.smtp.max_message_size,
      authMethods: ['PLAIN', 'LOGIN'],
      authOptional: true,
      disabledCommands: [
        ...(authOffered ? [] : ['AUTH']),
        ...(listener.tls === 'starttls' ? [] : ['STARTTLS']),
      ],
      hideSTARTTLS: !offeredSets[0].has('STARTTLS'),
      // What smtp-server may advertise and parse comes from the extension
      // table (src/smtp/extensions.ts); ehloOffered cuts it per session state.
      ...smtpServerHideOptions(),
      ehloOffered: (secure) => offered(secure),
      onAddressParameters: (sessionId, verb, command) => this.#checkParameters(sessionId, verb, command, offered),
      disableReverseLookup: true,
      maxClients: config.smtp.max_connections,
      socketTimeout: config.smtp.idle_timeout,
      closeTimeout: Math.max(1000, config.smtp.shutdown_grace),
      logger: false,
      proxyTrusted,
      onProxyRefused: (peer, problem) => this.#deps.logger.warn({ listener: name, peer, problem }, 'PROXY header refused'),
      commandLineLimit: config.smtp.max_command_length,
      onErrorReply: (sessionId) => {
        // Every 4xx/5xx counts, ours or smtp-server's own (syntax, unknown
        // command): at max_errors the refusal already sent stands and the
        // client gets 421 and is disconnected (Postfix's smtpd_hard_error_limit).
        const state = this.#sessions.get(sessionId);
        if (!state) return;
        state.errors++;
        if (state.errors < config.smtp.max_errors || state.capped) return;
        state.capped = true;
        this.#publish(state, TOO_MANY_ERRORS);
        const { enhanced, text } = TOO_MANY_ERRORS.reply as Reply;
        server.closeSession(sessionId, `${enhanced} ${text}`);
      },
      onAuthWithoutTls: (sessionId, method) => {
        const state = this.#sessions.get(sessionId);
        if (state) this.#publish(state, method ? { ...AUTH_TLS_REQUIRED, detail: { method } } : AUTH_TLS_REQUIRED);
      },
      onReset: (sessionId) => {
        // RSET/EHLO ended the transaction: the session is idle again (it must
        // not hold up a drain), and the next one starts from MAIL.
        const state = this.#sessions.get(sessionId);
        if (state && !state.inData) {
          state.sender = undefined;
          state.recipients = [];
          state.mailParams = undefined;
          state.recipientDsn = undefined;
        }
      },
      onEarlyTalker: (sessionId, clientIp) => {
        // Often before onConnect ran (smtp-server's own 100 ms pause), so no state yet.
        this.#deps.decisions.publish({ decision: EARLY_TALKER, at: this.#now(), sessionId, clientIp: socketIp(clientIp), listener: name });
      },
      forbidPipelining: config.smtp.forbid_unauth_pipelining,
      onPipelining: (sessionId, clientIp, command) => {
        const state = this.#sessions.get(sessionId);
        const stage = command === 'DATA' ? 'data' : command === 'EHLO' || command === 'HELO' ? 'helo' : 'connect';
        const decision: Decision = { ...PIPELINING_VIOLATION, stage, detail: { command } };
        if (state) this.#publish(state, decision);
        else this.#deps.decisions.publish({ decision, at: this.#now(), sessionId, clientIp: socketIp(clientIp), listener: name });
      },
      onConnect: (session, callback) => this.#onConnect(listenerInfo, server, session, callback),
      onSecure: (_socket, session, callback) => {
        const state = this.#sessions.get(session.id);
        if (state) state.tls = true;
        callback();
      },
      onAuth: (auth, session, callback) => this.#onAuth(auth, session, callback),
      onMailFrom: (address, session, callback) => this.#onMailFrom(address, session, callback),
      onRcptTo: (address, session, callback) => this.#onRcptTo(address, session, callback),
      onData: (stream, session, callback) => this.#onData(stream, session, callback),
      onClose: (session) => this.#onClose(session),
    });
    server.on('error', (error: Error) => this.#deps.logger.debug({ listener: name, err: error.message }, 'smtp connection error'));
    return new Listener(name, listener, server);
  }

  #publish(state: SessionRecord, decision: Decision, extra: { sender?: string; recipient?: string; queueId?: string } = {}): void {
    this.#deps.decisions.publish({
      decision,
      at: this.#now(),
      sessionId: state.sessionId,
      clientIp: state.clientIp,
      listener: state.listener.name,
      ...(state.helo ? { helo: state.helo } : {}),
      ...(state.user ? { user: state.user } : {}),
      ...extra,
    });
  }

  #now(): number {
    return (this.#deps.now ?? Date.now)();
  }

  /** Runs a stage; an unexpected error becomes 451 4.3.0, never a crash or an accept. */
  async #guarded<T>(state: SessionRecord | undefined, stage: string, run: () => Promise<T>): Promise<T | SmtpCallbackError> {
    try {
      return await run();
    } catch (error) {
      this.#deps.logger.error({ session: state?.sessionId, stage, err: error }, 'internal error in SMTP stage');
      return replyError(INTERNAL_ERROR);
    }
  }

  /** A non-permit decision becomes the callback error; permit/dunno continue. */
  #toCallbackError(state: SessionRecord, decision: Decision): SmtpCallbackError | undefined {
    if (decision.verdict !== 'reject' && decision.verdict !== 'defer') return undefined;
    return replyError(decision.reply ?? INTERNAL_ERROR);
  }

  /**
   * Replies through smtp-server's callback, slowing refusals down: past
   * tarpit_after_errors every refusal waits tarpit_delay (dictionary and spam
   * runs pay for each guess). The max_errors cap itself is in onErrorReply.
   */
  #respond(state: SessionRecord, callback: (err?: Error | null) => void, error: SmtpCallbackError | null | undefined): void {
    const { tarpit_after_errors: tarpitAfter, tarpit_delay: tarpitDelay } = this.#deps.config.smtp;
    if (!error) return callback(null);
    if (state.errors >= tarpitAfter && tarpitDelay > 0) {
      setTimeout(() => callback(error), tarpitDelay).unref();
      return;
    }
    callback(error);
  }

  #onConnect(
    listener: SessionRecord['listener'],
    server: RelaySmtpServer,
    session: SMTPServerSession,
    callback: (err?: Error | null) => void,
  ): void {
    const proxiedPeer = server.takeProxiedPeer(session.id);
    this.counters.connectionsOpened++;
    if (this.#draining) {
      this.counters.connectionsRefused++;
      callback(replyError(SHUTTING_DOWN));
      return;
    }
    const state: SessionRecord = {
      sessionId: session.id,
      listener,
      clientIp: socketIp(session.remoteAddress),
      clientPort: session.remotePort,
      peerIp: socketIp(proxiedPeer ?? session.remoteAddress),
      localIp: socketIp(session.localAddress),
      localPort: session.localPort,
      connectedAt: this.#now(),
      snapshot: this.#deps.currentSnapshot(),
      tls: Boolean(session.secure),
      esmtp: false,
      recipients: [],
      rejectedRecipients: 0,
      errors: 0,
      messages: 0,
      ...(this.#deps.journal ? { steps: [] } : {}),
    };
    this.#sessions.set(session.id, state);
    const { transaction_timeout: lifetime, greet_delay: greetDelay } = this.#deps.config.smtp;
    const lifetimeTimer = setTimeout(() => {
      this.#deps.logger.info({ session: state.sessionId, client: state.clientIp }, 'connection lifetime exceeded');
      const { enhanced, text } = replyFor('proto.timeout');
      server.closeSession(state.sessionId, `${enhanced} ${text}`);
    }, lifetime);
    lifetimeTimer.unref();
    state.lifetime = lifetimeTimer;
    void this.#guarded(state, 'connect', () => this.#deps.driver.connect(state)).then((result) => {
      if (result instanceof Error) return callback(result);
      this.#publish(state, result);
      const error = this.#toCallbackError(state, result);
      if (error) this.counters.connectionsRefused++;
      // Greet delay (postscreen's greet wait): bots that talk before our banner
      // give themselves away. Trusted clients (relay networks, allowlist) and
      // submission listeners skip it.
      const trusted = state.snapshot.relayNetworks.contains(state.clientIp) || state.snapshot.allowlist.contains(state.clientIp);
      if (error || greetDelay === 0 || listener.role !== 'mx' || trusted) return callback(error ?? null);
      setTimeout(() => callback(null), greetDelay).unref();
    });
  }

  #onAuth(
    auth: SMTPServerAuthentication,
    session: SMTPServerSession,
    callback: (err: Error | null | undefined, response?: { user?: unknown }) => void,
  ): void {
    const state = this.#sessions.get(session.id);
    if (!state) return callback(replyError(INTERNAL_ERROR));
    state.tls = Boolean(session.secure);
    const attempt = { method: auth.method, username: auth.username ?? '', password: auth.password ?? '' };
    void this.#guarded(state, 'auth', () => this.#deps.driver.auth(state, attempt)).then((result) => {
      if (result instanceof Error) return callback(result);
      this.#publish(state, result.decision);
      if (result.decision.verdict === 'permit' && result.user) {
        state.user = result.user;
        return callback(null, { user: result.user });
      }
      callback(this.#toCallbackError(state, result.decision) ?? replyError(INTERNAL_ERROR));
    });
  }

  /**
   * The parameters after the path of MAIL FROM / RCPT TO, judged against the
   * extensions this session was offered (extensions.ts): the refusal reply
   * (published as a Decision), or undefined with the parsed values kept for
   * the handler that runs next. A command whose path or parameter grammar is
   * broken is left to smtp-server's parser and the policy (their 501/553).
   */
  #checkParameters(
    sessionId: string,
    verb: 'MAIL' | 'RCPT',
    command: string,
    offered: (secure: boolean) => ReadonlySet<ExtensionKeyword>,
  ): { code: number; text: string } | undefined {
    const state = this.#sessions.get(sessionId);
    if (!state) return undefined;
    state.pendingParams = undefined;
    // Parameters are " keyword[=value]" words (an empty value is the parser's to refuse, 501 5.5.4).
    const match = /^[^:]*:\s*<[^<>]*>((?: +[A-Za-z0-9][A-Za-z0-9-]*(?:=[^ ]*)?)*) *$/.exec(command);
    if (!match) return undefined;
    const text = match[1] ?? '';
    const extensions = offered(state.tls);
    const parsed = verb === 'MAIL' ? parseMailParams(text, extensions) : parseRcptParams(text, extensions, state.mailParams?.smtputf8 === true);
    if (parsed.ok) {
      state.pendingParams = 'esmtp' in parsed ? { esmtp: parsed.esmtp } : { dsn: parsed.dsn };
      return undefined;
    }
    const reason = parsed.problem === 'not_offered' ? 'param.not_offered' : 'param.malformed';
    const reply = replyFor(reason, parsed.keyword);
    const stage = verb === 'MAIL' ? 'mail' : 'rcpt';
    this.#publish(state, reject(stage, 'esmtp-parameters', reason, reply, { parameter: parsed.keyword, problem: parsed.message }));
    return { code: reply.code, text: replyText(reply) };
  }

  #onMailFrom(address: SMTPServerAddress, session: SMTPServerSession, callback: (err?: Error | null) => void): void {
    const state = this.#sessions.get(session.id);
    if (!state) return callback(replyError(INTERNAL_ERROR));
    state.helo = session.hostNameAppearsAs || undefined;
    state.esmtp = session.openingCommand === 'EHLO';
    state.tls = Boolean(session.secure);
    state.recipients = [];
    state.sender = undefined;
    state.recipientDsn = undefined;
    const pending = state.pendingParams;
    state.pendingParams = undefined;
    state.mailParams = pending && 'esmtp' in pending ? pending.esmtp : undefined;
    const params: Record<string, string | true> = {};
    for (const [key, value] of Object.entries(address.args || {})) params[key.toUpperCase()] = value as string | true;
    const size = typeof params.SIZE === 'string' ? Number(params.SIZE) : undefined;
    state.declaredSize = size !== undefined && Number.isFinite(size) ? size : undefined;
    void this.#guarded(state, 'mail', () => this.#deps.driver.mail(state, address.address, params)).then((result) => {
      if (result instanceof Error) return this.#respond(state, callback, result);
      this.#publish(state, result.decision, { sender: address.address });
      const error = this.#toCallbackError(state, result.decision);
      if (!error) state.sender = result.sender ?? address.address;
      else state.mailParams = undefined;
      this.#respond(state, callback, error);
    });
  }

  #onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, callback: (err?: Error | null) => void): void {
    const state = this.#sessions.get(session.id);
    if (!state) return callback(replyError(INTERNAL_ERROR));
    const pending = state.pendingParams;
    state.pendingParams = undefined;
    const dsn = pending && 'dsn' in pending ? pending.dsn : null;
    void this.#guarded(state, 'rcpt', () => this.#deps.driver.rcpt(state, address.address)).then((result) => {
      if (result instanceof Error) return this.#respond(state, callback, result);
      this.#publish(state, result.decision, { sender: state.sender ?? '', recipient: address.address });
      const error = this.#toCallbackError(state, result.decision);
      if (error) {
        state.rejectedRecipients++;
        return this.#respond(state, callback, error);
      }
      const recipient = result.recipient ?? address.address;
      if (!state.recipients.includes(recipient)) {
        // The DSN parameters stay index-parallel to the recipients: a refused
        // RCPT adds to neither, a repeated one keeps its first parameters.
        state.recipients.push(recipient);
        state.recipientDsn = [...(state.recipientDsn ?? []), dsn];
      }
      callback(null);
    });
  }

  #onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback: (err?: Error | null, message?: string) => void): void {
    const state = this.#sessions.get(session.id);
    if (!state) return callback(replyError(INTERNAL_ERROR));
    state.inData = true;
    const finish = (err: Error | null, message?: string): void => {
      state.inData = false;
      state.sender = undefined;
      state.recipients = [];
      state.mailParams = undefined;
      state.recipientDsn = undefined;
      callback(err, message);
    };
    void this.#guarded(state, 'data', async () => {
      const gate = await this.#deps.driver.data(state);
      if (gate.verdict === 'reject' || gate.verdict === 'defer') {
        this.#publish(state, gate, { sender: state.sender ?? '' });
        return this.#toCallbackError(state, gate) as SmtpCallbackError;
      }
      return this.#receive(state, stream);
    }).then((result) => {
      if (result instanceof Error) return finish(result);
      finish(null, replyText(replyFor('data.queued', result)));
    });
  }

  /** Streams the message into the spool; resolves with the queue id, or the refusal. */
  async #receive(state: SessionRecord, stream: SMTPServerDataStream): Promise<string | SmtpCallbackError> {
    const sender = state.sender ?? '';
    // The end-of-data stage, asked by the guard while the body streams (never throws into the stream).
    const endOfData = (facts: MessageFacts): Decision => {
      try {
        return this.#deps.driver.endOfData(state, facts);
      } catch (error) {
        this.#deps.logger.error({ session: state.sessionId, stage: 'data', err: error }, 'internal error in SMTP stage');
        return internalError('data', error);
      }
    };
    const { decision, queueId } = await takeMessage({ ...this.#deps, now: () => this.#now() }, state, stream, endOfData);
    this.counters.bytesReceived += stream.byteLength;
    this.#publish(state, decision, queueId ? { sender, queueId } : { sender });
    if (decision.verdict === 'permit' && queueId) return queueId;
    return replyError(decision.reply ?? INTERNAL_ERROR);
  }

  #onClose(session: SMTPServerSession): void {
    const state = this.#sessions.get(session.id);
    if (!state) return;
    this.#sessions.delete(session.id);
    if (state.tls || session.secure) this.counters.closedWithTls++;
    else this.counters.closedWithoutTls++;
    state.inData = false;
    clearTimeout(state.lifetime);
    try {
      this.#deps.driver.close(state);
    } catch (error) {
      this.#deps.logger.error({ session: state.sessionId, err: error }, 'policy close failed');
    }
    this.#deps.journal?.record(state);
    this.#deps.logger.info(
      {
        session: state.sessionId,
        listener: state.listener.name,
        client: state.clientIp,
        peer: state.peerIp !== state.clientIp ? state.peerIp : undefined,
        helo: state.helo,
        user: state.user,
        tls: state.tls,
        messages: state.messages,
        rejectedRecipients: state.rejectedRecipients,
        errors: state.errors,
        durationMs: this.#now() - state.connectedAt,
      },
      'connection closed',
    );
  }
}

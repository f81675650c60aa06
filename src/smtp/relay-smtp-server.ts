// The smtp-server seam: the only file that touches smtp-server's internals
// (its SMTPConnection class, underscore members, handler_* methods), against
// the exact version pinned in package.json. Everything else uses the typed API
// below (RelaySmtpServer's options, takeProxiedPeer, closeSession,
// openSessions) and smtp-server's public options and types.
// test/smtp/third-party-seams.test.ts checks every member listed in
// SMTP_SERVER_SEAM against the installed smtp-server, and that no other file
// under src/ reaches into it; a new touch needs an entry there.
//
// What is bent, and why no public option does it in 3.21.6:
// - PROXY protocol v1 AND v2 from trusted load balancers only (smtp-server
//   reads v1 alone, from a list of exact addresses), through _handleProxy;
//   the session id is drawn there too (nextSessionId);
// - replies whose text already carries our enhanced status code (from a
//   Decision) are sent without smtp-server's generic one (send: the handlers'
//   callbacks take no context), and every 4xx/5xx is reported (onErrorReply);
// - AUTH is hidden from EHLO before TLS, and AUTH before TLS gets
//   538 5.7.11 on every listener (smtp-server only checks when STARTTLS exists,
//   and session.disabledCommands would answer 500 instead of 538),
//   reported through onAuthWithoutTls so the refusal is a Decision like any other.
// - MAIL FROM / RCPT TO hand the policy the raw path (source routes and all),
//   and refuse anything after it that is not ESMTP parameters
//   (lenientAddressParsing still drops source routes and decodes A-labels);
// - commands pipelined where RFC 2920 forbids it (more input after HELO,
//   EHLO, DATA, NOOP, VRFY or EXPN) get Postfix's smtpd_forbid_unauth_pipelining
//   answer and a close, reported through onPipelining: smtp-server's parser
//   does not say whether more input follows a command, so the seam counts the
//   bytes handed to the parser (_createParser) against the commands read;
// - EXPN and VRFY are refused (502 5.5.1, Postfix's disable_vrfy_command), and
//   HELO/EHLO without a name, and DATA/RSET with an argument, get 501 5.5.4
//   (_onCommand; smtp-server answers 252 to VRFY and 500 to EXPN, and runs
//   DATA x as DATA);
// - a command before the greeting is reported (onEarlyTalker), command lines
//   are held to commandLineLimit and may not carry NUL (_onCommand: the
//   parser's maxCommandLength must leave room for AUTH lines, and answers 421);
// - a transaction reset (RSET, EHLO, STARTTLS) is reported to the front door
//   (_resetSession: smtp-server has no reset hook).
// - QUIT closes the socket at once (handler_QUIT);
// - the EHLO reply lists exactly the extensions the front door's table
//   (src/smtp/extensions.ts) offers this session (send; smtp-server's hide*
//   options are per server, not per session state), and every MAIL FROM /
//   RCPT TO parameter is judged by the front door against that same table
//   before smtp-server reads it (handler_MAIL, handler_RCPT: smtp-server
//   accepts and drops any parameter it does not know, with 250), once the
//   command is in the state where smtp-server would run it (session.envelope:
//   a nested MAIL or a RCPT before MAIL keeps smtp-server's 503);
// - a command line that is not valid UTF-8 is refused (500 5.5.2, as Postfix
//   with smtputf8_enable), never decoded: smtp-server's toString() would turn
//   a 0xFF byte into U+FFFD, a different address (_onCommand);
// - a client that half-closes (FIN, or close_notify over TLS) after its last
//   command still gets every reply it is owed, then the connection closes:
//   sockets are half-open (allowHalfOpen), send() writes to a socket whose
//   read side has ended (smtp-server writes only while readyState is 'open'),
//   and the end of the client's input is seen when the parser finishes
//   (_createParser). Without this a message committed to the spool after the
//   client's FIN got no 250 and the client sent it again.
// - no fixed 100 ms pause before onConnect: the front door's greet_delay is
//   that wait, configurable (0 greets at once) (init; connect makes our
//   connection class, smtp-server has no factory option for it).
import { isUtf8 } from 'node:buffer';
import crypto from 'node:crypto';
import type net from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { parseProxyHeader } from './proxy-protocol.ts';
import { replyFor, replyText, sendArgs } from '../policy/replies.ts';
import type { Reply } from '../policy/decision.ts';
import { UnreadInput } from './unread-input.ts';
import { commandVerb, isDataCommand } from './command-line.ts';

const ENHANCED_PREFIX = /^[245]\.\d{1,3}\.\d{1,3} /;
// Zero or more " esmtp-keyword[=esmtp-value]" (RFC 5321 4.1.2; values may be UTF-8, RFC 6531).
const ESMTP_PARAMS = /^(?: +[A-Za-z0-9][A-Za-z0-9-]*(?:=[\x21-\x3c\x3e-\x7e\u0080-\u{10FFFF}]+)?)* *$/u;
/**
 * Commands that must end a group (RFC 2920 4: EHLO, DATA, VRFY, EXPN, TURN,
 * NOOP; HELO too), as in Postfix's smtpd command table. QUIT is left out like
 * in Postfix (nothing follows it that is read), and so is STARTTLS, whose
 * pipelined plaintext smtp-server discards.
 */
const GROUP_ENDERS = new Set(['HELO', 'EHLO', 'DATA', 'NOOP', 'VRFY', 'EXPN', 'TURN']);
/** Postfix's reply with smtpd_forbid_unauth_pipelining (then it disconnects). */
const PROXY_HEADER_TIMEOUT_MS = 5000;
const PROXY_HEADER_MAX = 16 + 4096;
/** Session ids: 9 random bytes = 12 base64url characters, cut from a pool refilled 512 ids at a time. */
const ID_BYTES = 9;
const ID_POOL_BYTES = ID_BYTES * 512;
let idPool = Buffer.alloc(0);
let idOffset = 0;

/**
 * A random session id (72 bits, as before). One crypto.randomBytes() call per
 * connection cost ~9 us (1% of the relay's CPU at 1 KiB messages in bench/);
 * drawing from a pool costs a slice.
 */
export function nextSessionId(): string {
  if (idOffset + ID_BYTES > idPool.length) {
    idPool = crypto.randomBytes(ID_POOL_BYTES);
    idOffset = 0;
  }
  const id = idPool.toString('base64url', idOffset, idOffset + ID_BYTES);
  idOffset += ID_BYTES;
  return id;
}

/**
 * Every smtp-server member this file relies on beyond its documented options,
 * with the shape it has in the pinned version. test/smtp/third-party-seams.test.ts
 * checks each against the installed package (and that every `._member` and
 * `handler_*` written in this file is listed here), so an upgrade that moves
 * one fails in CI instead of changing the relay's behaviour.
 */
export const SMTP_SERVER_SEAM = {
  library: 'smtp-server',
  version: '3.21.6',
  /** SMTPConnection.prototype methods overridden or called, with their arity (Function.length). */
  connectionMethods: {
    init: 0,
    connectionReady: 1,
    send: 3,
    close: 0,
    _setListeners: 1,
    _onCommand: 2,
    _parseAddressCommand: 2,
    handler_MAIL: 2,
    handler_RCPT: 2,
    _resetSession: 0,
    _createParser: 0,
    handler_AUTH: 2,
    handler_QUIT: 2,
    _getEnhancedStatusCode: 2,
  },
  /** Fields read on a live connection, with their typeof (or of the values they take). */
  connectionFields: {
    id: ['string'],
    name: ['string'],
    remoteAddress: ['string'],
    secure: ['boolean'],
    _server: ['object'],
    _socket: ['object'],
    _ready: ['boolean'],
    _upgrading: ['boolean'],
    /** false, or the continuation handler of an AUTH exchange */
    _nextHandler: ['boolean', 'function'],
    _handlerPending: ['boolean'],
    /** the command parser (a Writable the socket is piped into); false once the socket closed */
    _parser: ['object'],
    /** false, or the message stream while DATA is received and until onData has answered */
    _dataStream: ['boolean', 'object'],
    _closing: ['boolean'],
    /** the session object handed to the handlers; session.envelope.mailFrom is false until MAIL FROM was accepted */
    session: ['object'],
  },
  /**
   * send() writes only while the socket's readyState is exactly this (an own
   * property shadows the getter while a reply goes out after the client's FIN).
   */
  sendWritesWhen: "readyState === 'open'",
  /** SMTPServer.prototype methods overridden or called, with their arity. */
  serverMethods: {
    connect: 2,
    _handleProxy: 2,
    _onError: 1,
    _onClientConnect: 1,
  },
  /** Fields read on a server: connections is a Set of SMTPConnection, options the options object. */
  serverFields: {
    connections: ['object'],
    options: ['object'],
  },
  /**
   * Methods this file re-implements rather than wraps (init without its timer,
   * connect with our class, QUIT with a close, _handleProxy for v2): the first
   * 16 hex digits of the sha256 of their source as shipped. A change means
   * reading the new version and carrying it into the override.
   */
  copied: {
    'SMTPConnection.init': '1265a7d7ca8f5510',
    'SMTPConnection.handler_QUIT': '82d176bb3b5d6428',
    'SMTPConnection.send': 'c33568c0111a58b2',
    'SMTPServer.connect': '9818ea13a1c36459',
    'SMTPServer._handleProxy': 'b52456c48b0458fe',
  },
  /**
   * Methods whose results are remembered (PlaceholderParses), on the ground
   * that they depend only on their arguments and the server's options: the
   * first 16 hex digits of the sha256 of their source as shipped. A change
   * means checking that this still holds.
   */
  pure: {
    'SMTPConnection._parseAddressCommand': '9f368803e4fdff15',
  },
} as const;

export interface RelaySmtpServerOptions extends SMTPServerOptions {
  /** Is this peer (the TCP source address) allowed to send a PROXY header? */
  proxyTrusted?: (peerAddress: string) => boolean;
  /** Called for every PROXY header refused (bad header, or timeout). */
  onProxyRefused?: (peerAddress: string, problem: string) => void;
  /** A client sent a command before our greeting (postscreen's "pregreet"). */
  onEarlyTalker?: (sessionId: string, clientIp: string) => void;
  /** Every 4xx/5xx reply sent on a session, whoever produced it. */
  onErrorReply?: (sessionId: string, code: number) => void;
  /** smtp-server dropped the mail transaction (RSET, HELO/EHLO, STARTTLS, end of DATA). */
  onReset?: (sessionId: string) => void;
  /** Longest command line outside AUTH exchanges (RFC 5321: 512). */
  commandLineLimit?: number;
  /** Refuse and disconnect a client that pipelines where RFC 2920 forbids it (default true). */
  forbidPipelining?: boolean;
  /** A client sent more input after `command`, which must end a group; it is told 554 and disconnected. */
  onPipelining?: (sessionId: string, clientIp: string, command: string) => void;
  /** AUTH was refused with 538 because the session is not encrypted (`method` as sent, upper-cased). */
  onAuthWithoutTls?: (sessionId: string, method: string) => void;
  /**
   * The extension keywords offered to a session in this state (src/smtp/extensions.ts);
   * the EHLO reply keeps only the lines that name one. Absent: smtp-server's list as is.
   */
  ehloOffered?: (secure: boolean) => ReadonlySet<string>;
  /**
   * A MAIL FROM or RCPT TO command (valid UTF-8, as sent) about to be run:
   * the reply that refuses its parameters, or undefined to let it through.
   */
  onAddressParameters?: (sessionId: string, verb: 'MAIL' | 'RCPT', command: string) => { code: number; text: string } | undefined;
}

/** One open session, as the listener sees it at shutdown. */
export interface OpenSession {
  readonly id: string;
  /** One of our handlers (onMailFrom, onData, ...) has not answered this session's command yet. */
  readonly awaitingHandler: boolean;
  /** Sends a 421 with `text` (enhanced code first), which closes the session. */
  close(text: string): void;
}

interface RelayHooks {
  onEarlyTalker(sessionId: string, clientIp: string): void;
  onErrorReply(sessionId: string, code: number): void;
  onAuthWithoutTls(sessionId: string, method: string): void;
  onReset(sessionId: string): void;
  commandLineLimit: number;
  forbidPipelining: boolean;
  onPipelining(sessionId: string, clientIp: string, command: string): void;
  ehloOffered: ((secure: boolean) => ReadonlySet<string>) | undefined;
  onAddressParameters(sessionId: string, verb: 'MAIL' | 'RCPT', command: string): { code: number; text: string } | undefined;
}

type SocketOptions = Parameters<Parameters<SMTPServer['_handleProxy']>[1]>[1];

/** An smtp-server connection that greets without smtp-server's fixed pause. */
class ImmediateConnection extends SMTPConnection {
  /**
   * smtp-server pauses every connection 100 ms before onConnect to catch early
   * talkers. The front door already holds the greeting for greet_delay (and
   * refuses early talkers meanwhile), so that fixed pause only capped each
   * connection at ~10 messages a second and added 100 ms to every session
   * (bench/: 90 msgs/s at concurrency 10). Same steps as the original, no timer.
   */
  override init(): void {
    this._setListeners(() => {
      const { maxClients } = this._server.options;
      if (maxClients && this._server.connections.size > maxClients) {
        this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
        return;
      }
      this.connectionReady();
    });
  }
}

class RelayConnection extends ImmediateConnection {
  get #hooks(): RelayHooks {
    return (this._server as unknown as RelaySmtpServer).hooks;
  }

  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    if (Array.isArray(data) && code === 250) {
      // The EHLO reply (the only multi-line 250): never AUTH over plaintext,
      // and only what the extension table offers this session.
      const offered = this.#hooks.ehloOffered?.(this.secure);
      data = data.filter((line, i) => {
        if (i === 0) return true;
        if (!this.secure && /^AUTH\b/i.test(line)) return false;
        const keyword = line.trim().split(/\s+/)[0]?.toUpperCase() ?? '';
        return offered === undefined || offered.has(keyword);
      });
    }
    if (typeof data === 'string' && ENHANCED_PREFIX.test(data)) context = false;
    const socket = this._socket;
    // A pipelined group (RFC 2920): while more of the client's commands are
    // waiting, the reply is held in the socket (cork) and the group's replies
    // leave in one write when its last command is answered (or at the end of
    // this turn of the event loop). Never around the greeting, a 221, a 354 or
    // a 421, which end a group or the connection.
    const grouped = code !== 220 && code !== 221 && code !== 354 && code !== 421 && !this._upgrading && !socket.destroyed && this.#commandsWaiting();
    if (grouped && this.#corked === undefined) {
      socket.cork();
      this.#corked = socket;
      setImmediate(() => this.#flushReplies());
    }
    // The client ended its side (readyState 'writeOnly'): smtp-server would
    // drop the reply, but the client is still reading it.
    const halfClosed = !this._upgrading && !socket.destroyed && socket.writable && !socket.readable;
    if (halfClosed) Object.defineProperty(socket, 'readyState', { value: 'open', configurable: true });
    try {
      sendAsSmtpServer(this, code, data, context);
    } finally {
      if (halfClosed) Reflect.deleteProperty(socket, 'readyState');
    }
    if (!grouped) this.#flushReplies();
    // A refusal that closes the session anyway (the pipelining 554) is not one
    // more error to count: at max_errors it would be followed by a 421.
    if (code >= 400 && code !== 421 && !this.#ending) this.#hooks.onErrorReply(this.id, code);
    if (this.#clientDone) setImmediate(() => this.#closeIfAnswered());
  }

  /** The socket corked while a pipelined group is answered (send), until #flushReplies. */
  #corked: net.Socket | undefined;

  /** Writes the replies held for a pipelined group (one writev), if any. */
  #flushReplies(): void {
    const socket = this.#corked;
    if (socket === undefined) return;
    this.#corked = undefined;
    socket.uncork();
  }

  /** More commands of the client are waiting to be read (in the parser or the socket): the reply is part of a group. */
  #commandsWaiting(): boolean {
    return this.#input.pending || this._socket.readableLength > 0;
  }

  /** Held replies go out before smtp-server ends the socket. */
  override close(): void {
    this.#flushReplies();
    super.close();
  }

  /** Set once the client has ended its side and the parser has read all it sent. */
  #clientDone = false;
  /** The session is being refused and closed (no error counting). */
  #ending = false;
  /** What the client sent that no command was read from yet (the pipelining check). */
  readonly #input = new UnreadInput();

  /**
   * The parser for the socket (a new one after STARTTLS). It finishes when the
   * socket it is piped from ends (the client's FIN, or close_notify) and every
   * command before that has been dispatched; a parser retired at STARTTLS or
   * unpiped at close() never finishes.
   */
  override _createParser(): ReturnType<SMTPConnection['_createParser']> {
    const parser = super._createParser();
    // The first parser is made inside SMTPConnection's constructor, before
    // this class's fields exist; a later one (STARTTLS) starts a new count.
    if (#input in this) this.#input.reset();
    const write = parser.write.bind(parser) as (chunk: Buffer | string, ...rest: unknown[]) => boolean;
    parser.write = ((chunk: Buffer | string, ...rest: unknown[]) => {
      this.#input.received(chunk);
      return write(chunk, ...rest);
    }) as typeof parser.write;
    parser.once('finish', () => {
      if (this._parser !== parser) return;
      this.#clientDone = true;
      this.#closeIfAnswered();
    });
    return parser;
  }

  /**
   * After the client's FIN: close once no reply is owed. In the middle of DATA
   * (no final dot) the message is incomplete: closing destroys its stream, so
   * nothing is queued and nothing is answered. While a handler or onData has
   * not answered, wait: the reply goes out first (send() calls back here).
   */
  #closeIfAnswered(): void {
    if (this._closing || this._socket.destroyed) return;
    const midData = this._dataStream !== false && this._dataStream !== null && !this._dataStream.writableEnded;
    if (!midData && (this._handlerPending || this._dataStream)) return;
    this.close();
  }

  /**
   * QUIT: the 221, then the connection is closed at once, as Postfix's smtpd
   * does. smtp-server half-closes and reads on until the client's FIN; a
   * client that closes right after QUIT (smtp-source does) then answers the
   * 221 with a reset, and every such session ended in an ECONNRESET error
   * with its stack trace captured, a failed shutdown(2) and the error path
   * (bench/thread-cpu.ts: the main thread's CPU per message fell by 10-15%
   * with this close). Only once the reply is in the
   * kernel (nothing left in Node's buffer), and not over TLS, where the
   * close_notify is smtp-server's to send; otherwise smtp-server's way.
   */
  override handler_QUIT(command: Buffer, callback: () => void): void {
    this.send(221, 'Bye');
    const socket = this._socket;
    if (!this.secure && !this._upgrading && !socket.destroyed && socket.writableLength === 0) socket.destroy();
    this.close();
    callback();
  }

  override _onCommand(command: Buffer, callback?: () => void): void {
    const done = callback ?? (() => undefined);
    this.#input.commandRead(command);
    if (!this._ready && !this._upgrading) {
      // Talking before the greeting: a bot that does not wait for the server.
      this.#hooks.onEarlyTalker(this.id, this.remoteAddress);
      this.send(...sendArgs('conn.early_talker'));
      return;
    }
    if (!this._upgrading && !this._nextHandler) {
      if (command.length + 2 > this.#hooks.commandLineLimit) {
        this.send(...sendArgs('proto.line_too_long'));
        setImmediate(done);
        return;
      }
      if (command.includes(0)) {
        this.send(...sendArgs('proto.bad_command'));
        setImmediate(done);
        return;
      }
      if (!isUtf8(command)) {
        this.send(...sendArgs('proto.bad_utf8'));
        setImmediate(done);
        return;
      }
      const { name, hasArgument } = commandVerb(command);
      if (this.#hooks.forbidPipelining && GROUP_ENDERS.has(name) && this.#inputFollows()) {
        this.#hooks.onPipelining(this.id, this.remoteAddress, name);
        this.#ending = true;
        this.send(...sendArgs('proto.pipelining'));
        this.close();
        return;
      }
      const refusal = refuseCommand(name, hasArgument);
      if (refusal) {
        this.send(refusal.code, refusal.text);
        setImmediate(done);
        return;
      }
    }
    const data = !this._nextHandler && isDataCommand(command);
    super._onCommand(command, callback);
    // DATA accepted (smtp-server made the message stream): the message follows.
    if (data && this._dataStream) this.#input.messageStarted();
  }

  /**
   * More input after the command just read: in the parser or the socket. A
   * lone QUIT is let through: the client leaves anyway, and refusing it would
   * only turn its 221 into a 554.
   */
  #inputFollows(): boolean {
    if (this._socket.readableLength > 0) return true;
    return this.#input.pending && !/^QUIT\r?\n$/i.test(this.#input.text);
  }

  /**
   * smtp-server validates addresses itself (and silently drops source routes).
   * Our policy must see exactly what the client sent, so the address is
   * passed through raw and judged by src/policy; ESMTP parameters are still
   * parsed (and refused when malformed) by smtp-server.
   */
  override _parseAddressCommand(rawName: string, rawCommand: Buffer | string): ReturnType<SMTPConnection['_parseAddressCommand']> {
    const command = rawCommand.toString();
    const match = /^[^:]*:\s*<([^<>]*)>/.exec(command);
    if (!match) return super._parseAddressCommand(rawName, rawCommand);
    // Only the path reaches the policy, so what follows it must be ESMTP
    // parameters (RFC 5321 4.1.2): smtp-server would take a second path
    // ("<a@local> <b@foreign>") or glued text for a parameter and accept the command.
    if (!ESMTP_PARAMS.test(command.slice(match[0].length))) return false;
    const withPlaceholder = command.replace(/<[^<>]*>/, '<placeholder@example.invalid>');
    let parsed = this.#parses.lookup(rawName, withPlaceholder);
    if (parsed === undefined) {
      parsed = super._parseAddressCommand(rawName, withPlaceholder);
      this.#parses.remember(rawName, withPlaceholder, parsed);
    }
    if (!parsed) return false;
    // A copy of the remembered result, args too: smtp-server and the front
    // door keep and extend what this returns (session.envelope.mailFrom, dsn).
    const result = { ...parsed, address: match[1] as string };
    if (parsed.args) result.args = { ...parsed.args };
    return result;
  }

  get #parses(): PlaceholderParses {
    return (this._server as unknown as RelaySmtpServer).placeholderParses;
  }

  /** MAIL FROM: its parameters judged against the extension table first (no nested MAIL: smtp-server's 503 stands). */
  override handler_MAIL(command: Buffer, callback: () => void): void {
    if (!this.session.envelope.mailFrom && this.#parametersRefused('MAIL', command, callback)) return;
    super.handler_MAIL(command, callback);
  }

  /** RCPT TO: the same, once MAIL FROM was accepted (before it, smtp-server's 503 stands). */
  override handler_RCPT(command: Buffer, callback: () => void): void {
    if (this.session.envelope.mailFrom && this.#parametersRefused('RCPT', command, callback)) return;
    super.handler_RCPT(command, callback);
  }

  #parametersRefused(verb: 'MAIL' | 'RCPT', command: Buffer, callback: () => void): boolean {
    const refusal = this.#hooks.onAddressParameters(this.id, verb, command.toString('utf8'));
    if (!refusal) return false;
    this.send(refusal.code, refusal.text);
    callback();
    return true;
  }

  /** smtp-server has no RSET hook: the front door must know when a transaction ends without DATA. */
  override _resetSession(): void {
    super._resetSession();
    this.#hooks.onReset(this.id);
  }

  override handler_AUTH(command: Buffer, callback: () => void): void {
    if (!this.secure) {
      // Only the mechanism name is read: credentials sent in the clear are never looked at.
      const method = /^AUTH\s+([A-Za-z0-9_-]{1,20})/i.exec(command.toString('latin1'))?.[1]?.toUpperCase() ?? '';
      this.#hooks.onAuthWithoutTls(this.id, method);
      this.send(...sendArgs('auth.tls_required'));
      callback();
      return;
    }
    super.handler_AUTH(command, callback);
  }
}

/** The local end every accepted socket shares: a listener bound to one IP address and port (not a wildcard, not a Unix socket). */
export function specificLocalEnd(bound: string | net.AddressInfo | null): { localAddress: string; localPort: number } | undefined {
  if (bound === null || typeof bound !== 'object') return undefined;
  if (bound.address === '0.0.0.0' || bound.address === '::') return undefined;
  return { localAddress: bound.address, localPort: bound.port };
}

/** smtp-server's CONTROL_CHARS (sasl.js): no reply line may carry one (it could split the reply). */
// eslint-disable-next-line no-control-regex -- the control characters are what it finds
const REPLY_CONTROL = /[\x00-\x1F\x7F-\x9F]/;
const REPLY_CONTROL_ALL = new RegExp(REPLY_CONTROL.source, 'g');

/** smtp-server's sanitize() in send(): a copy only when the line carries a control character. */
function replyLine(line: unknown): string {
  const text = line === undefined || line === null ? '' : typeof line === 'string' ? line : (line as { toString(): string }).toString();
  return REPLY_CONTROL.test(text) ? text.replace(REPLY_CONTROL_ALL, ' ') : text;
}

/**
 * smtp-server's send() (SMTP_SERVER_SEAM.copied fingerprints it): the same
 * reply bytes, the same session.error and the same close on a 421, built
 * without its per-reply garbage: a parts array, a sanitize closure and the
 * debug log's object for a logger that is off (logger: false makes every
 * level a no-op). One session's seven replies (greeting to 221) allocated
 * 3.6 KB in smtp-server's send, 1.7 KB here (sampling heap profiler, in
 * process). test/smtp/send-as-smtp-server.test.ts checks it against the
 * original on seeded random replies.
 */
export function sendAsSmtpServer(connection: SMTPConnection, code: number, data: string | string[] | null | undefined, context: string | false | undefined): void {
  const enhancedCode = connection._getEnhancedStatusCode(code, context);
  let payload: string;
  if (Array.isArray(data)) {
    // Multi-line: the enhanced status code on every line.
    payload = '';
    const last = data.length - 1;
    for (let i = 0; i <= last; i++) {
      const prefix = enhancedCode ? `${code}${i < last ? '-' : ' '}${enhancedCode} ` : `${code}${i < last ? '-' : ' '}`;
      payload += i === 0 ? prefix + replyLine(data[i]) : `\r\n${prefix}${replyLine(data[i])}`;
    }
  } else {
    payload = enhancedCode ? `${code} ${enhancedCode}` : `${code}`;
    if (data) payload += ` ${replyLine(data)}`;
  }
  if (code >= 400) connection.session.error = payload;
  if (code === 334 && payload === '334') payload += ' ';
  const socket = connection._socket;
  if (!connection._upgrading && socket && !socket.destroyed && socket.readyState === 'open') {
    socket.write(payload + '\r\n');
    if (connection._server.options.logger) {
      connection._server.logger.debug({ tnx: 'send', cid: connection.id, user: (connection.session.user && connection.session.user.username) || connection.session.user }, 'S:', payload);
    }
  }
  // The connection goes away even when the reply was not written.
  if (code === 421) connection.close();
}

type AddressParse = ReturnType<SMTPConnection['_parseAddressCommand']>;

/**
 * smtp-server's _parseAddressCommand results for MAIL FROM / RCPT TO lines
 * whose path is our placeholder, by verb and line. With the path replaced,
 * the line is the verb's spelling and the ESMTP parameters, which repeat from
 * one transaction to the next, and smtp-server's parse is a pure function of
 * the line and the server's options (SMTP_SERVER_SEAM.pure fingerprints it;
 * its one side effect, a log line when punycode fails, cannot happen on the
 * placeholder's domain). Its splits, joins and regular expressions cost
 * ~3.5 KB of garbage per message (heap sampling of bench/thread-cpu.ts, 1 KiB
 * messages, one per session); a hit costs two Map lookups. Bounded: a client
 * that varies its parameters only refills it.
 */
export class PlaceholderParses {
  static readonly LIMIT = 256;
  readonly #byVerb = new Map<string, Map<string, AddressParse>>();
  #size = 0;

  /** smtp-server's result for this verb and line, if remembered. Never hand it out itself: copy it. */
  lookup(rawName: string, line: string): AddressParse | undefined {
    return this.#byVerb.get(rawName)?.get(line);
  }

  remember(rawName: string, line: string, parsed: AddressParse): void {
    let lines = this.#byVerb.get(rawName);
    if (this.#size >= PlaceholderParses.LIMIT) {
      this.#byVerb.clear();
      this.#size = 0;
      lines = undefined;
    }
    if (!lines) this.#byVerb.set(rawName, (lines = new Map()));
    if (!lines.has(line)) this.#size++;
    lines.set(line, parsed);
  }

  get size(): number {
    return this.#size;
  }
}

const sendReply = (reply: Reply): { code: number; text: string } => ({ code: reply.code, text: replyText(reply) });

/** Commands refused before smtp-server sees them, as Postfix answers them. */
function refuseCommand(name: string, hasArgument: boolean): { code: number; text: string } | undefined {
  // Postfix's disable_vrfy_command = yes; Postfix has no EXPN at all. Neither
  // may tell a stranger which addresses exist.
  if (name === 'VRFY' || name === 'EXPN') return sendReply(replyFor('proto.command_disabled', name));
  if ((name === 'EHLO' || name === 'HELO') && !hasArgument) return sendReply(replyFor('proto.syntax', `${name} hostname`));
  // RFC 5321 4.1.1.4 and 4.1.1.5 give DATA and RSET no argument; smtp-server
  // ignores one (`DATA x` got 354). Postfix answers 501 and runs nothing: the
  // transaction stays as it was.
  if ((name === 'DATA' || name === 'RSET') && hasArgument) return sendReply(replyFor('proto.syntax', name));
  return undefined;
}

/**
 * smtp-server whose sessions greet without its fixed 100 ms pause (bench/'s
 * "smtp-server alone" ceiling runs on it, as the relay does).
 */
export class GreetAtOnceSmtpServer extends SMTPServer {
  /** The session object for an accepted socket; RelaySmtpServer makes its own. */
  protected newConnection(socket: net.Socket, socketOptions: SocketOptions | undefined): SMTPConnection {
    return new ImmediateConnection(this, socket, socketOptions);
  }

  /** smtp-server's connect(), with our connection class. */
  override connect(socket: net.Socket, socketOptions?: SocketOptions | null): void {
    const connection = this.newConnection(socket, socketOptions ?? undefined);
    this.connections.add(connection);
    connection.on('error', (err: Error) => this._onError(err));
    connection.on('connect', (data: Parameters<SMTPServer['_onClientConnect']>[0]) => this._onClientConnect(data));
    connection.init();
  }
}

export class RelaySmtpServer extends GreetAtOnceSmtpServer {
  readonly #proxyTrusted: (peer: string) => boolean;
  readonly #onProxyRefused: (peer: string, problem: string) => void;
  readonly hooks: RelayHooks;
  /** smtp-server's parses of placeholder MAIL FROM / RCPT TO lines (RelayConnection._parseAddressCommand). */
  readonly placeholderParses = new PlaceholderParses();
  /** Session id → the load balancer's address, for connections that came through PROXY. */
  readonly #proxiedPeers = new Map<string, string>();
  /**
   * The address and port the listener is bound to, when that is one address
   * (not 0.0.0.0 or ::): every socket it accepts has exactly this local end,
   * so smtp-server is told it instead of asking the kernel (one getsockname(2)
   * per connection, 0.7% of the main thread in bench/'s profile).
   */
  #boundLocal: { localAddress: string; localPort: number } | undefined;

  constructor(options: RelaySmtpServerOptions) {
    const {
      proxyTrusted,
      onProxyRefused,
      onEarlyTalker,
      onErrorReply,
      onAuthWithoutTls,
      onReset,
      commandLineLimit,
      forbidPipelining,
      onPipelining,
      ehloOffered,
      onAddressParameters,
      ...rest
    } = options;
    // The parser's own limit stays at RFC 4954's 12288 octets so AUTH lines
    // fit; every other command is held to commandLineLimit in _onCommand.
    // allowHalfOpen: a client's FIN must not end our side before its replies
    // are written (RelayConnection closes once they are).
    super({ ...rest, useProxy: false, maxCommandLength: 12_288, allowHalfOpen: true } as SMTPServerOptions);
    this.hooks = {
      onEarlyTalker: onEarlyTalker ?? (() => undefined),
      onErrorReply: onErrorReply ?? (() => undefined),
      onAuthWithoutTls: onAuthWithoutTls ?? (() => undefined),
      onReset: onReset ?? (() => undefined),
      commandLineLimit: commandLineLimit ?? 512,
      forbidPipelining: forbidPipelining ?? true,
      onPipelining: onPipelining ?? (() => undefined),
      ehloOffered,
      onAddressParameters: onAddressParameters ?? (() => undefined),
    };
    this.#proxyTrusted = proxyTrusted ?? (() => false);
    this.#onProxyRefused = onProxyRefused ?? (() => undefined);
    this.server.on('listening', () => {
      this.#boundLocal = specificLocalEnd(this.server.address());
    });
  }

  /** The TCP peer behind a PROXY header for this session (read once). */
  takeProxiedPeer(sessionId: string): string | undefined {
    const peer = this.#proxiedPeers.get(sessionId);
    this.#proxiedPeers.delete(sessionId);
    return peer;
  }

  /** Sends a 421 with `text` to one session, which closes it. */
  closeSession(sessionId: string, text: string): void {
    for (const connection of this.connections) {
      if (connection.id === sessionId) connection.send(421, text);
    }
  }

  /** The sessions open now (for shutdown), one at a time as smtp-server holds them. */
  *openSessions(): Generator<OpenSession> {
    for (const connection of this.connections) {
      yield {
        id: connection.id,
        awaitingHandler: connection._handlerPending,
        close: (text) => connection.send(421, text),
      };
    }
  }

  protected override newConnection(socket: net.Socket, socketOptions: SocketOptions | undefined): SMTPConnection {
    return new RelayConnection(this, socket, socketOptions);
  }

  override _handleProxy(socket: net.Socket, callback: (err: Error | null, socketOptions?: SocketOptions) => void): void {
    const socketOptions: SocketOptions = this.#boundLocal ? { id: nextSessionId(), ...this.#boundLocal } : { id: nextSessionId() };
    const peer = socket.remoteAddress ?? '';
    if (!this.#proxyTrusted(peer)) {
      // At once, not on the next turn of the event loop as smtp-server does:
      // a plain connection has nothing to wait for before its session starts.
      callback(null, socketOptions);
      return;
    }
    let buffered = Buffer.alloc(0);
    let finished = false;
    const finish = (problem: string | null, remainder?: Buffer): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', onEnd);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      if (problem) {
        socket.on('error', () => undefined);
        this.#onProxyRefused(peer, problem);
        socket.destroy();
        callback(new Error(`PROXY header refused: ${problem}`));
        return;
      }
      socket.pause();
      if (remainder && remainder.length > 0) socket.unshift(remainder);
      callback(null, socketOptions);
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const parsed = parseProxyHeader(buffered);
      if (parsed.kind === 'incomplete') {
        if (buffered.length > PROXY_HEADER_MAX) finish('header too long');
        return;
      }
      if (parsed.kind === 'invalid') return finish(parsed.problem);
      if (parsed.source) {
        socketOptions.remoteAddress = parsed.source.address;
        socketOptions.remotePort = parsed.source.port;
        this.#proxiedPeers.set(socketOptions.id as string, peer);
      }
      finish(null, buffered.subarray(parsed.headerLength));
    };
    const onEnd = (): void => finish('connection closed before the header');
    const timer = setTimeout(() => finish('no header in time'), PROXY_HEADER_TIMEOUT_MS);
    timer.unref();
    socket.on('data', onData);
    socket.once('error', onEnd);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  }
}

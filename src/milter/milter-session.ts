// One milter connection's SMTP session(s) through the one session driver
// (src/session). Postfix opens a milter connection per SMTP session and sends
// the callbacks in SMTP order; each packet is handled here and answered with
// the reply packets to send (none for MACRO, ABORT and what negotiation told
// Postfix not to wait for).
//
//   CONNECT   the driver's connect stage (client address from the packet,
//             Postfix's own address from the {daemon_addr} macro, its port from
//             {daemon_port} when milter_connect_macros names it)
//   HELO      noted; judged at MAIL, as the front door and the driver do
//             ({tls_version} marks the session TLS)
//   MAIL      the driver's mail stage ({auth_authen}: the authenticated user;
//             SIZE= and SMTPUTF8 from the ESMTP arguments)
//   RCPT      the driver's rcpt stage; a refusal refuses that recipient only
//   DATA      the driver's data stage (the message counts in the rate windows)
//   HEADER,   measured (message-meter.ts); a finding in the body (over the
//   BODY      size limit, a bare CR or LF, a NUL, an over-long line) asks the
//             end-of-data rules at once and a refusal is answered then, as the
//             front door stops an oversized message early
//   EOB       the end-of-data rules on the whole message; the decision header
//             (ADDHEADER) when [milter] decision_header is set
//   ABORT     the message is forgotten (RSET, or the client went away)
//   QUIT      the session is closed (its counters released)
//   QUIT_NC   the same, and another SMTP session follows on this connection
//
// A refusal is SMFIR_REPLYCODE with the exact reply the front door would give
// (src/policy/replies.ts): Postfix sends it to its client as is. A client
// address that is not an IP (a Unix-socket or unknown client) cannot be
// judged: ACCEPT, so Postfix stops asking for this session, and a log line.
import type { Config } from '../config/schema.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';
import type { Decision } from '../policy/decision.ts';
import { internalError } from '../policy/engine.ts';
import type { Stage } from '../policy/decision.ts';
import type { SessionRecord, SessionStages } from '../session/session-record.ts';
import { normalizeIp } from '../net/ip-text.ts';
import { decisionHeaderValue } from '../policy-service/policy-answer.ts';
import { postfixSessionRecord } from '../policy-service/postfix-session.ts';
import {
  ACCEPT,
  Action,
  addHeader,
  Command,
  CONTINUE,
  MILTER_VERSION,
  optNegReply,
  parseConnect,
  parseMacros,
  parseOptNeg,
  Protocol,
  readStrings,
  replyCode,
  WANTED_PROTOCOL,
  type Packet,
} from './milter-protocol.ts';
import { MessageMeter } from './message-meter.ts';

export interface MilterSessionDeps {
  readonly config: Config;
  readonly driver: SessionStages;
  readonly currentSnapshot: () => PolicySnapshot;
  /** Each Decision the driver made, as it is made (the server logs and counts it). */
  readonly publish: (made: MadeDecision) => void;
  /** One line for what could not be judged (not an error of the peer's protocol). */
  readonly note: (event: string, detail: Record<string, unknown>) => void;
  readonly sessionId: () => string;
  /** Replies sent, by kind (shared by every connection of a server: /metrics). */
  readonly counts: Record<ReplyKind, number>;
  readonly now?: () => number;
}

export interface MadeDecision {
  readonly decision: Decision;
  readonly session: SessionRecord;
  readonly sender?: string;
  readonly recipient?: string;
  /** Postfix's queue id (macro "i"), once it has one. */
  readonly queueId?: string;
}

/** What a packet comes to: replies to send, and whether the connection ends (QUIT) or is not the milter protocol. */
export interface Handled {
  readonly replies: Buffer[];
  readonly end?: 'quit' | 'bad_command' | 'bad_data';
}

/** What the reply to a callback is for, to count it (metrics). */
export type ReplyKind = 'continue' | 'accept' | 'reject' | 'tempfail' | 'addheader';

interface MessageState {
  mail?: Decision;
  sender?: string;
  /** The first permitted recipient's Decision (what the decision header tells). */
  firstPermitted?: Decision;
  data?: Decision;
  /** A refusal of this message's content (early or at end of data): every later body packet gets it again. */
  refused?: Decision;
  readonly meter: MessageMeter;
  /** Findings already asked about (a finding asks the end-of-data rules once). */
  asked: { size: boolean; bare: boolean; nul: boolean; line: boolean };
}

const refused = (decision: Decision): boolean => decision.verdict === 'reject' || decision.verdict === 'defer';

/** The refusal as SMFIR_REPLYCODE: the exact reply the front door sends. */
function refusal(decision: Decision): Buffer {
  const reply = decision.reply;
  // Every reject/defer carries a reply (decision.ts checks); a bare TEMPFAIL/REJECT would be Postfix's words, not ours.
  if (!reply) throw new Error(`refusal without a reply: ${decision.reason}`);
  return replyCode(reply.code, reply.enhanced, reply.text);
}

export class MilterSession {
  readonly #deps: MilterSessionDeps;
  /** Macros as last sent (Postfix sends each command's macros before the command). */
  readonly #macros = new Map<string, string>();
  #protocol = 0;
  #actions = 0;
  #record: SessionRecord | undefined;
  #connect: Decision | undefined;
  /** No judging for this session (a client that is not an IP): ACCEPT was sent. */
  #unjudged = false;
  #message: MessageState | undefined;
  readonly counts: Record<ReplyKind, number>;

  constructor(deps: MilterSessionDeps) {
    this.#deps = deps;
    this.counts = deps.counts;
  }

  /** The SMTP session now being judged (for the close log line). */
  get record(): SessionRecord | undefined {
    return this.#record;
  }

  async handle(packet: Packet): Promise<Handled> {
    try {
      return await this.#handle(packet);
    } catch (error) {
      // As at the front door: an unexpected error is a 451 4.3.0, never a crash or a silent accept.
      const decision = internalError(stageOf(packet.command), error);
      if (this.#record) this.#deps.publish({ decision, session: this.#record, ...this.#queueId() });
      return this.#reply(refusal(decision), 'tempfail');
    }
  }

  /** The connection is gone (QUIT, an error, our time budget): the session's counters are released. */
  close(): void {
    if (this.#record && this.#connect) this.#deps.driver.close(this.#record);
    this.#record = undefined;
    this.#connect = undefined;
    this.#message = undefined;
    this.#unjudged = false;
    this.#macros.clear();
  }

  async #handle(packet: Packet): Promise<Handled> {
    const { command, data } = packet;
    switch (command) {
      case Command.OPTNEG:
        return this.#optneg(data);
      case Command.MACRO: {
        const parsed = parseMacros(data);
        if (!parsed) return { replies: [], end: 'bad_data' };
        for (const [name, value] of parsed.macros) this.#macros.set(name, value);
        return { replies: [] };
      }
      case Command.CONNECT:
        return this.#connectStage(data);
      case Command.HELO: {
        const [helo] = readStrings(data);
        if (helo === undefined) return { replies: [], end: 'bad_data' };
        const early = this.#early();
        if (early) return early;
        const record = this.#record as SessionRecord;
        record.helo = helo;
        record.esmtp = true;
        if (this.#macros.get('{tls_version}')) record.tls = true;
        return this.#continue();
      }
      case Command.MAIL:
        return this.#mail(readStrings(data));
      case Command.RCPT:
        return this.#rcpt(readStrings(data));
      case Command.DATA:
        return this.#data();
      case Command.HEADER: {
        const strings = readStrings(data);
        if (strings.length < 2) return { replies: [], end: 'bad_data' };
        const [name, value] = strings as [string, string];
        const message = this.#message;
        if (message && !message.refused) message.meter.header(name, this.#protocol & Protocol.HDR_LEADSPC ? value : ` ${value}`);
        return this.#protocol & Protocol.NR_HDR ? { replies: [] } : this.#continue();
      }
      case Command.EOH:
        return this.#protocol & (Protocol.NR_EOH | Protocol.NOEOH) ? { replies: [] } : this.#continue();
      case Command.UNKNOWN:
        return this.#protocol & (Protocol.NR_UNKN | Protocol.NOUNKNOWN) ? { replies: [] } : this.#continue();
      case Command.BODY:
        return this.#body(data);
      case Command.BODYEOB:
        return this.#endOfBody(data);
      case Command.ABORT:
        this.#resetMessage();
        return { replies: [] };
      case Command.QUIT:
        this.close();
        return { replies: [], end: 'quit' };
      case Command.QUIT_NC:
        // Another SMTP session follows on this connection (its CONNECT comes next).
        this.close();
        return { replies: [] };
      default:
        return { replies: [], end: 'bad_command' };
    }
  }

  #optneg(data: Buffer): Handled {
    const offered = parseOptNeg(data);
    if (!offered || offered.version < 2) return { replies: [], end: 'bad_data' };
    // Ask only for what the MTA offers (Postfix refuses a milter that asks for more).
    this.#protocol = WANTED_PROTOCOL & offered.protocol;
    this.#actions = this.#deps.config.milter.decision_header !== undefined ? Action.ADDHDRS & offered.actions : 0;
    return { replies: [optNegReply({ version: Math.min(offered.version, MILTER_VERSION), actions: this.#actions, protocol: this.#protocol })] };
  }

  async #connectStage(data: Buffer): Promise<Handled> {
    const info = parseConnect(data);
    if (!info) return { replies: [], end: 'bad_data' };
    // A session on a connection that QUIT_NC did not close: the earlier one ends here.
    if (this.#record) this.close();
    const address = info.address.replace(/^IPv6:/i, '');
    const clientIp = info.family === '4' || info.family === '6' ? normalizeIp(address) : undefined;
    if (!clientIp) {
      this.#unjudged = true;
      this.#deps.note('milter.unjudged', { family: info.family, address: info.address.slice(0, 200) });
      return this.#reply(ACCEPT, 'accept');
    }
    const settings = this.#deps.config.milter;
    const serverIp = normalizeIp(this.#macros.get('{daemon_addr}') ?? '') ?? '127.0.0.1';
    const serverPort = Number(this.#macros.get('{daemon_port}') ?? '0');
    const record = postfixSessionRecord({
      sessionId: this.#deps.sessionId(),
      source: 'milter',
      clientIp,
      clientPort: info.port,
      serverIp,
      serverPort: Number.isInteger(serverPort) && serverPort > 0 && serverPort < 65536 ? serverPort : 0,
      submissionPorts: settings.submission_ports,
      tls: false,
      snapshot: this.#deps.currentSnapshot(),
      now: (this.#deps.now ?? Date.now)(),
    });
    this.#record = record;
    const decision = await this.#deps.driver.connect(record);
    this.#connect = decision;
    this.#deps.publish({ decision, session: record });
    return refused(decision) ? this.#reply(refusal(decision), decision.verdict === 'reject' ? 'reject' : 'tempfail') : this.#continue();
  }

  /**
   * The answer to a callback before its session can be judged: ACCEPT for an
   * unjudged session, the connect refusal again, or (no CONNECT came first)
   * the end of the connection as not the milter protocol.
   */
  #early(): Handled | undefined {
    if (this.#unjudged) return this.#reply(ACCEPT, 'accept');
    if (!this.#record || !this.#connect) return { replies: [], end: 'bad_data' };
    if (refused(this.#connect)) return this.#refuse(this.#connect);
    return undefined;
  }

  async #mail(args: string[]): Promise<Handled> {
    const early = this.#early();
    if (early) return early;
    const [address, ...rest] = args;
    if (address === undefined) return { replies: [], end: 'bad_data' };
    const record = this.#record as SessionRecord;
    this.#resetMessage();
    const message: MessageState = { meter: new MessageMeter(), asked: { size: false, bare: false, nul: false, line: false } };
    this.#message = message;
    const user = this.#macros.get('{auth_authen}');
    if (user) record.user = user;
    if (this.#macros.get('{tls_version}')) record.tls = true;
    const params: Record<string, string | true> = {};
    for (const arg of rest) {
      const eq = arg.indexOf('=');
      const key = (eq === -1 ? arg : arg.slice(0, eq)).toUpperCase();
      // Only what the driver reads; Postfix has already checked the syntax of the others.
      if (key === 'SIZE' && eq !== -1) params.SIZE = arg.slice(eq + 1);
      if (key === 'SMTPUTF8') params.SMTPUTF8 = true;
    }
    const size = params.SIZE === undefined ? undefined : Number(params.SIZE);
    record.declaredSize = size !== undefined && Number.isInteger(size) ? size : undefined;
    const sender = address.replace(/^<|>$/g, '');
    const mail = await this.#deps.driver.mail(record, `<${sender}>`, params);
    message.mail = mail.decision;
    this.#deps.publish({ decision: mail.decision, session: record, sender, ...this.#queueId() });
    if (refused(mail.decision)) return this.#refuse(mail.decision);
    record.sender = mail.sender ?? sender;
    message.sender = sender;
    return this.#continue();
  }

  async #rcpt(args: string[]): Promise<Handled> {
    const early = this.#early();
    if (early) return early;
    const [address] = args;
    const message = this.#message;
    if (address === undefined || !message?.mail) return { replies: [], end: 'bad_data' };
    if (refused(message.mail)) return this.#refuse(message.mail);
    const record = this.#record as SessionRecord;
    const recipient = address.replace(/^<|>$/g, '');
    const rcpt = await this.#deps.driver.rcpt(record, `<${recipient}>`);
    this.#deps.publish({ decision: rcpt.decision, session: record, ...(message.sender !== undefined ? { sender: message.sender } : {}), recipient, ...this.#queueId() });
    if (refused(rcpt.decision)) {
      record.rejectedRecipients++;
      return this.#refuse(rcpt.decision);
    }
    const accepted = rcpt.recipient ?? recipient;
    if (!record.recipients.includes(accepted)) record.recipients.push(accepted);
    message.firstPermitted ??= rcpt.decision;
    return this.#continue();
  }

  async #data(): Promise<Handled> {
    const early = this.#early();
    if (early) return early;
    const message = this.#message;
    if (!message?.mail) return { replies: [], end: 'bad_data' };
    const record = this.#record as SessionRecord;
    message.data ??= await this.#deps.driver.data(record);
    this.#deps.publish({ decision: message.data, session: record, ...(message.sender !== undefined ? { sender: message.sender } : {}), ...this.#queueId() });
    return refused(message.data) ? this.#refuse(message.data) : this.#continue();
  }

  #body(chunk: Buffer): Handled {
    const early = this.#early();
    if (early) return early;
    const message = this.#message;
    if (!message) return { replies: [], end: 'bad_data' };
    if (message.refused) return this.#refuse(message.refused);
    message.meter.body(chunk);
    if (this.#newFinding(message)) {
      const decision = this.#endOfData(message);
      if (refused(decision)) return this.#refuse(decision);
    }
    return this.#continue();
  }

  #endOfBody(chunk: Buffer): Handled {
    const early = this.#early();
    if (early) return early;
    const message = this.#message;
    if (!message) return { replies: [], end: 'bad_data' };
    const record = this.#record as SessionRecord;
    if (message.refused) {
      const again = this.#refuse(message.refused);
      this.#resetMessage();
      return again;
    }
    if (chunk.length > 0) message.meter.body(chunk);
    message.meter.end();
    const decision = this.#endOfData(message);
    const replies: Buffer[] = [];
    if (refused(decision)) {
      const refusedReply = this.#refuse(decision);
      this.#resetMessage();
      return refusedReply;
    }
    record.messages++;
    const header = this.#deps.config.milter.decision_header;
    if (header !== undefined && this.#actions & Action.ADDHDRS && message.firstPermitted) {
      // With HDR_LEADSPC the MTA takes the value as is (Postfix writes "Name:value"): the space is ours to send.
      const value = decisionHeaderValue(message.firstPermitted, this.#deps.config.hostname);
      replies.push(addHeader(header, this.#protocol & Protocol.HDR_LEADSPC ? ` ${value}` : value));
      this.counts.addheader++;
    }
    this.#resetMessage();
    replies.push(CONTINUE);
    this.counts.continue++;
    return { replies };
  }

  /** The end-of-data rules on what was measured so far; a refusal is kept for the rest of the message. */
  #endOfData(message: MessageState): Decision {
    const record = this.#record as SessionRecord;
    const decision = this.#deps.driver.endOfData(record, message.meter.facts);
    this.#deps.publish({ decision, session: record, ...(message.sender !== undefined ? { sender: message.sender } : {}), ...this.#queueId() });
    if (refused(decision)) message.refused = decision;
    return decision;
  }

  /** A finding the end-of-data rules have not yet been asked about. */
  #newFinding(message: MessageState): boolean {
    const facts = message.meter.facts;
    const smtp = (this.#record as SessionRecord).snapshot.config.smtp;
    const found = {
      size: facts.size > smtp.max_message_size,
      bare: facts.bareLineEnding,
      nul: facts.nul === true,
      line: (facts.longestLine ?? 0) > smtp.max_line_length,
    };
    let fresh = false;
    for (const key of ['size', 'bare', 'nul', 'line'] as const) {
      if (found[key] && !message.asked[key]) {
        message.asked[key] = true;
        fresh = true;
      }
    }
    return fresh;
  }

  #resetMessage(): void {
    this.#message = undefined;
    const record = this.#record;
    if (!record) return;
    record.sender = undefined;
    record.recipients = [];
    record.declaredSize = undefined;
  }

  #queueId(): { queueId?: string } {
    const id = this.#macros.get('i');
    return id ? { queueId: id.slice(0, 64) } : {};
  }

  #continue(): Handled {
    return this.#reply(CONTINUE, 'continue');
  }

  #refuse(decision: Decision): Handled {
    return this.#reply(refusal(decision), decision.verdict === 'reject' ? 'reject' : 'tempfail');
  }

  #reply(bytes: Buffer, kind: ReplyKind): Handled {
    this.counts[kind]++;
    return { replies: [bytes] };
  }
}

function stageOf(command: number): Stage {
  switch (command) {
    case Command.CONNECT:
      return 'connect';
    case Command.HELO:
      return 'helo';
    case Command.MAIL:
      return 'mail';
    case Command.RCPT:
      return 'rcpt';
    default:
      return 'data';
  }
}

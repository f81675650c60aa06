// The Postfix policy delegation server ([policy_service] in config.toml;
// Postfix's SMTPD_POLICY_README): a TCP (loopback by default) or Unix socket
// listener speaking `name=value` lines ending with an empty line, answered
// with `action=...` and an empty line, several requests per connection,
// pipelined requests answered in order. Each request goes through the one
// session driver (policy-sessions.ts); answers come from policy-answer.ts.
//
// Bad input never costs more than its own connection: over-long lines, lines
// that are not attributes and NUL bytes close that connection with one log
// line; a request that is not `request=smtpd_access_policy`, or has a stage
// or client address we cannot judge, is answered DUNNO with a log line; a
// request that runs past request_timeout is answered DEFER_IF_PERMIT (so
// Postfix neither hangs nor lets mail through on our silence), and its work
// goes on in the background (later requests of that SMTP session wait for it).
// Every connection is handled on its own: a slow client blocks nobody.
import net from 'node:net';
import { listenService, type ServiceAddress } from './service-listener.ts';
import type { Config } from '../config/schema.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';
import type { Logger } from '../log/logger.ts';
import type { DecisionLog } from '../observability/decision-log.ts';
import type { Decision } from '../policy/decision.ts';
import { defer } from '../policy/decision.ts';
import { replyFor } from '../policy/replies.ts';
import { internalError } from '../policy/engine.ts';
import type { SessionJournal, SessionStages } from '../session/session-record.ts';
import { normalizeIp, socketIp } from '../net/ip-text.ts';
import { AttributeReader, type PolicyRequest } from './attribute-reader.ts';
import { answerFor, DUNNO, prependAnswer, TIMEOUT_ANSWER, type ActionKind, type PolicyAnswer } from './policy-answer.ts';
import { PolicySessions, policyStage, type Evaluation, type PolicyStage } from './policy-sessions.ts';

export interface PolicyServerDeps {
  readonly config: Config;
  readonly driver: SessionStages;
  readonly currentSnapshot: () => PolicySnapshot;
  readonly logger: Logger;
  readonly decisions: DecisionLog;
  /** The decision journal: each policy-service session goes to it when it closes. */
  readonly journal?: SessionJournal;
  readonly now?: () => number;
}

/** Running totals (read by /metrics and tests): answers by kind, connections closed for bad input. */
export interface PolicyServerCounters {
  readonly answers: Record<ActionKind, number>;
  badInput: number;
  timeouts: number;
}

export type PolicyServerAddress = ServiceAddress;

const SOURCE = 'policy service' as const;
/** Unanswered requests one connection may have before it is no longer read. */
const MAX_IN_FLIGHT = 64;

export class PolicyServer {
  readonly #deps: PolicyServerDeps;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #sessions: PolicySessions;
  readonly counters: PolicyServerCounters = { answers: { dunno: 0, ok: 0, reject: 0, defer: 0, defer_if_permit: 0, prepend: 0 }, badInput: 0, timeouts: 0 };
  #address: PolicyServerAddress | undefined;

  constructor(deps: PolicyServerDeps) {
    this.#deps = deps;
    this.#sessions = new PolicySessions({
      config: deps.config,
      driver: deps.driver,
      currentSnapshot: deps.currentSnapshot,
      localAddress: () => (this.#address?.kind === 'inet' ? (normalizeIp(this.#address.host) ?? '127.0.0.1') : '127.0.0.1'),
      ...(deps.journal ? { journal: deps.journal } : {}),
      ...(deps.now ? { now: deps.now } : {}),
    });
    this.#server = net.createServer((socket) => this.#accept(socket));
    this.#server.maxConnections = deps.config.policy_service.max_connections;
  }

  /** SMTP sessions held (bounded by max_sessions). */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  async listen(): Promise<PolicyServerAddress> {
    this.#address = await listenService(this.#server, this.#deps.config.policy_service);
    this.#deps.logger.info({ event: 'policy_service.listening', address: this.#address }, 'policy service listening');
    return this.#address;
  }

  address(): PolicyServerAddress | undefined {
    return this.#address;
  }

  get listening(): boolean {
    return this.#server.listening;
  }

  /** Stops accepting, closes every policy connection (Postfix reconnects or applies its default action). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => (this.#server.listening ? this.#server.close(() => resolve()) : resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
    this.#sessions.close();
  }

  #accept(socket: net.Socket): void {
    const settings = this.#deps.config.policy_service;
    this.#sockets.add(socket);
    const peer = socket.remoteAddress ? `${socketIp(socket.remoteAddress)}:${socket.remotePort}` : 'unix';
    const reader = new AttributeReader();
    // Answers leave in request order: each waits for the one before it.
    let queue: Promise<void> = Promise.resolve();
    socket.setNoDelay(true);
    socket.setTimeout(settings.idle_timeout);
    socket.on('timeout', () => {
      this.#deps.logger.debug({ peer }, 'policy connection idle: closed');
      socket.destroy();
    });
    socket.on('error', (error) => this.#deps.logger.debug({ peer, err: error.message }, 'policy connection error'));
    socket.on('close', () => this.#sockets.delete(socket));
    // Pipelining is bounded: past MAX_IN_FLIGHT unanswered requests the
    // connection is not read until answers catch up (Postfix sends one at a time).
    let inFlight = 0;
    let failed = false;
    socket.on('data', (chunk: Buffer) => {
      const { requests, problem } = reader.feed(chunk);
      for (const request of requests) {
        const answer = this.#answer(request);
        inFlight++;
        queue = queue.then(async () => {
          const text = await answer;
          inFlight--;
          if (!socket.destroyed) socket.write(`action=${text.action}\n\n`);
          if (!failed && inFlight < MAX_IN_FLIGHT && socket.isPaused()) socket.resume();
        });
      }
      if (inFlight >= MAX_IN_FLIGHT) socket.pause();
      if (problem) {
        failed = true;
        this.counters.badInput++;
        this.#deps.logger.warn({ event: 'policy_service.bad_input', peer, problem }, 'policy connection closed: not the policy protocol');
        socket.pause();
        // What was asked before the garbage is still answered, then the connection goes.
        void queue.then(() => socket.destroy());
      }
    });
  }

  /** The answer of one request, within request_timeout; never rejects. */
  async #answer(request: PolicyRequest): Promise<PolicyAnswer> {
    const kind = request.get('request');
    if (kind !== 'smtpd_access_policy') {
      this.#deps.logger.warn({ event: 'policy_service.not_access_policy', request: kind?.slice(0, 64) ?? null }, 'policy request without request=smtpd_access_policy: answered DUNNO');
      return this.#count(DUNNO);
    }
    const stage = policyStage(request);
    const clientIp = normalizeIp(request.get('client_address') ?? '');
    if (stage === undefined || clientIp === undefined) {
      this.#deps.logger.info(
        { event: 'policy_service.not_judged', protocol_state: request.get('protocol_state')?.slice(0, 32) ?? null, client_address: request.get('client_address')?.slice(0, 64) ?? null },
        'policy request for a stage or client relayguard does not judge: answered DUNNO',
      );
      return this.#count(DUNNO);
    }
    const budget = this.#deps.config.policy_service.request_timeout;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), budget);
      timer.unref();
    });
    const work = this.#sessions.evaluate(request, stage, clientIp).then(
      (evaluation) => {
        this.#publish(request, evaluation);
        return evaluation;
      },
      (error: unknown) => error instanceof Error ? error : new Error(String(error)),
    );
    const outcome = await Promise.race([work, late]);
    clearTimeout(timer);
    if (outcome === 'late') {
      this.counters.timeouts++;
      this.#publishLone(request, clientIp, defer(decisionStage(stage), 'policy-service', 'policy_service.timeout', replyFor('policy_service.timeout'), { budgetMs: budget }));
      return this.#count(TIMEOUT_ANSWER);
    }
    if (outcome instanceof Error) {
      // As at the front door: an unexpected error is a 451 4.3.0, never a crash or a silent accept.
      this.#deps.logger.error({ event: 'policy_service.error', err: outcome }, 'internal error in policy request');
      const decision = internalError(decisionStage(stage), outcome);
      this.#publishLone(request, clientIp, decision);
      return this.#count(answerFor(decision, { okForTrusted: false }));
    }
    return this.#count(this.#toAnswer(outcome));
  }

  #toAnswer(evaluation: Evaluation): PolicyAnswer {
    const settings = this.#deps.config.policy_service;
    const { decision } = evaluation;
    if (settings.decision_header !== undefined && evaluation.firstPermittedRecipient && decision.verdict === 'permit') {
      return prependAnswer(settings.decision_header, decision, this.#deps.config.hostname);
    }
    return answerFor(decision, { okForTrusted: settings.ok_for_trusted });
  }

  #count(answer: PolicyAnswer): PolicyAnswer {
    this.counters.answers[answer.kind]++;
    return answer;
  }

  #publish(request: PolicyRequest, evaluation: Evaluation): void {
    const record = evaluation.session;
    for (const made of evaluation.fresh) {
      this.#deps.decisions.publish({
        decision: made.decision,
        at: this.#now(),
        sessionId: record.sessionId,
        clientIp: record.clientIp,
        listener: record.listener.name,
        source: SOURCE,
        ...(record.helo ? { helo: record.helo } : {}),
        ...(record.user ? { user: record.user } : {}),
        ...(made.sender !== undefined ? { sender: made.sender } : {}),
        ...(made.recipient !== undefined ? { recipient: made.recipient } : {}),
        ...queueIdOf(request),
      });
    }
  }

  /** A Decision made here rather than by the driver (time budget, internal error). */
  #publishLone(request: PolicyRequest, clientIp: string, decision: Decision): void {
    this.#deps.decisions.publish({
      decision,
      at: this.#now(),
      sessionId: `policy-${request.get('instance') ?? 'none'}`,
      clientIp,
      listener: 'policy-service',
      source: SOURCE,
      ...(request.get('helo_name') ? { helo: request.get('helo_name') as string } : {}),
      ...(request.get('sender') !== undefined ? { sender: request.get('sender') as string } : {}),
      ...(request.get('recipient') ? { recipient: request.get('recipient') as string } : {}),
      ...queueIdOf(request),
    });
  }

  #now(): number {
    return (this.#deps.now ?? Date.now)();
  }
}

const decisionStage = (stage: PolicyStage): Decision['stage'] => (stage === 'end-of-message' ? 'data' : stage);

/** Postfix's queue id, when it has one by then (the log then joins up with Postfix's). */
function queueIdOf(request: PolicyRequest): { queueId?: string } {
  const id = request.get('queue_id');
  return id ? { queueId: id.slice(0, 64) } : {};
}

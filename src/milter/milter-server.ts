// The milter listener ([milter] in config.toml): a TCP (loopback by default)
// or Unix socket listener speaking the Sendmail milter protocol, version 6 as
// Postfix's smtpd_milters / non_smtpd_milters client speaks it
// (milter-protocol.ts). One connection is one SMTP session, judged through
// the one session driver (milter-session.ts); packets are handled in order,
// pipelined ones included.
//
// Bad input never costs more than its own connection, with one log line:
// a length of 0 or past the packet limit, an unknown command, a command that
// does not parse, a packet that starts and does not end within
// command_timeout (a slow or stalled client), our own answer taking longer
// than command_timeout. The connection is then closed, and Postfix applies its
// milter_default_action to that SMTP session (tempfail by default: 451 4.7.1
// to its client; accept lets the mail through unjudged). Every connection is
// handled on its own: a slow one blocks nobody.
import net from 'node:net';
import type { Config } from '../config/schema.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';
import type { Logger } from '../log/logger.ts';
import type { DecisionLog } from '../observability/decision-log.ts';
import type { SessionStages } from '../session/session-record.ts';
import { socketIp } from '../net/ip-text.ts';
import { listenService, type ServiceAddress } from '../policy-service/service-listener.ts';
import { DEFAULT_MAX_PACKET_BYTES, PacketReader, type Packet } from './milter-protocol.ts';
import { MilterSession, type Handled, type MadeDecision, type ReplyKind } from './milter-session.ts';

export interface MilterServerDeps {
  readonly config: Config;
  readonly driver: SessionStages;
  readonly currentSnapshot: () => PolicySnapshot;
  readonly logger: Logger;
  readonly decisions: DecisionLog;
  /** Largest packet accepted (default 256 KiB: Postfix's body chunks are at most 64 KiB). */
  readonly maxPacketBytes?: number;
  readonly now?: () => number;
}

/** Running totals (read by /metrics and tests). */
export interface MilterCounters {
  readonly replies: Record<ReplyKind, number>;
  badInput: number;
  timeouts: number;
}

export type MilterAddress = ServiceAddress;

/** Packets one connection may have waiting before it is no longer read (Postfix waits for each reply). */
const MAX_QUEUED = 64;

export class MilterServer {
  readonly #deps: MilterServerDeps;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly counters: MilterCounters = { replies: { continue: 0, accept: 0, reject: 0, tempfail: 0, addheader: 0 }, badInput: 0, timeouts: 0 };
  #address: MilterAddress | undefined;
  #sequence = 0;

  constructor(deps: MilterServerDeps) {
    this.#deps = deps;
    this.#server = net.createServer((socket) => this.#accept(socket));
    this.#server.maxConnections = deps.config.milter.max_connections;
  }

  async listen(): Promise<MilterAddress> {
    this.#address = await listenService(this.#server, this.#deps.config.milter);
    this.#deps.logger.info({ event: 'milter.listening', address: this.#address }, 'milter listening');
    return this.#address;
  }

  address(): MilterAddress | undefined {
    return this.#address;
  }

  get listening(): boolean {
    return this.#server.listening;
  }

  /** Connections open now. */
  get connections(): number {
    return this.#sockets.size;
  }

  /** Stops accepting and closes every milter connection (Postfix applies milter_default_action). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => (this.#server.listening ? this.#server.close(() => resolve()) : resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  #accept(socket: net.Socket): void {
    const settings = this.#deps.config.milter;
    const log = this.#deps.logger;
    this.#sockets.add(socket);
    const peer = socket.remoteAddress ? `${socketIp(socket.remoteAddress)}:${socket.remotePort}` : 'unix';
    const reader = new PacketReader(this.#deps.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES);
    const session = new MilterSession({
      config: this.#deps.config,
      driver: this.#deps.driver,
      currentSnapshot: this.#deps.currentSnapshot,
      publish: (made) => this.#publish(made),
      note: (event, detail) => log.info({ event, peer, ...detail }, 'milter session not judged'),
      sessionId: () => `milter-${process.pid.toString(36)}-${(++this.#sequence).toString(36)}`,
      counts: this.counters.replies,
      ...(this.#deps.now ? { now: this.#deps.now } : {}),
    });
    // Packets are handled one after the other; `work` is the last one's.
    let work: Promise<void> = Promise.resolve();
    let queued = 0;
    let ended = false;
    let packetTimer: NodeJS.Timeout | undefined;

    /** Closes this connection once, with one log line when it is not a normal end. */
    const end = (why: 'quit' | 'closed' | Handled['end'] | 'packet_too_large' | 'empty_packet' | 'slow_packet' | 'command_timeout', level: 'warn' | 'debug' = 'warn'): void => {
      if (ended) return;
      ended = true;
      clearTimeout(packetTimer);
      if (why !== 'quit' && why !== 'closed') {
        if (why === 'command_timeout' || why === 'slow_packet') this.counters.timeouts++;
        else this.counters.badInput++;
        log[level]({ event: 'milter.closed', peer, problem: why, session: session.record?.sessionId }, 'milter connection closed');
      }
      socket.pause();
      // Releases the session's counters once its work (maybe past our budget) is done.
      void work.then(() => session.close());
      if (why === 'quit') socket.end();
      else socket.destroy();
    };

    const run = (packet: Packet): void => {
      queued++;
      work = work.then(async () => {
        if (ended) return;
        const budget = settings.command_timeout;
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((resolve) => {
          timer = setTimeout(() => resolve('late'), budget);
          timer.unref();
        });
        const handling = session.handle(packet);
        const outcome = await Promise.race([handling, late]);
        clearTimeout(timer);
        queued--;
        if (outcome === 'late') {
          end('command_timeout');
          // The session closes once the late work is done (end() chained it after `work`, which is this).
          await handling.catch(() => undefined);
          return;
        }
        if (ended) return;
        for (const reply of outcome.replies) socket.write(reply);
        if (outcome.end) end(outcome.end);
        else if (queued < MAX_QUEUED && socket.isPaused()) socket.resume();
      });
    };

    socket.setNoDelay(true);
    socket.setTimeout(settings.idle_timeout);
    socket.on('timeout', () => {
      log.debug({ peer }, 'milter connection idle: closed');
      end('closed');
    });
    socket.on('error', (error) => log.debug({ peer, err: error.message }, 'milter connection error'));
    socket.on('close', () => {
      this.#sockets.delete(socket);
      end('closed');
    });
    socket.on('data', (chunk: Buffer) => {
      if (ended) return;
      const { packets, problem } = reader.feed(chunk);
      for (const packet of packets) run(packet);
      if (queued >= MAX_QUEUED) socket.pause();
      if (problem) {
        // What came before the bad packet is still answered, then the connection goes.
        socket.pause();
        void work.then(() => end(problem));
        return;
      }
      // A packet begun must end within command_timeout: a stalled client holds only its own connection.
      clearTimeout(packetTimer);
      if (reader.midPacket) {
        packetTimer = setTimeout(() => end('slow_packet'), settings.command_timeout);
        packetTimer.unref();
      }
    });
  }

  #publish(made: MadeDecision): void {
    const record = made.session;
    this.#deps.decisions.publish({
      decision: made.decision,
      at: (this.#deps.now ?? Date.now)(),
      sessionId: record.sessionId,
      clientIp: record.clientIp,
      listener: record.listener.name,
      source: 'milter',
      ...(record.helo ? { helo: record.helo } : {}),
      ...(record.user ? { user: record.user } : {}),
      ...(made.sender !== undefined ? { sender: made.sender } : {}),
      ...(made.recipient !== undefined ? { recipient: made.recipient } : {}),
      ...(made.queueId !== undefined ? { queueId: made.queueId } : {}),
    });
  }
}

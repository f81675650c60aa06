// The connections to one next hop that recipient probes share: at most
// `connections` probes run at once (the rest wait their turn, in order), each
// on a connection of its own that is reused for the next probe and QUIT after
// `idleTimeout` without work. A reused connection the next hop has closed in
// the meantime is noticed on its first command and the probe is run once
// more on a fresh one. Hosts are tried in order, as delivery does: one that
// refuses the connection, does not greet or fails TLS passes to the next.
// When no host could be reached, the hop counts as down for DOWN_MS: probes
// are answered "temporary" at once instead of each waiting out a connect
// timeout (a blackholed backend must not grow a queue of doomed probes), and
// at most QUEUE_PER_CONNECTION probes per connection wait for a turn.
import { ProbeConnection, ProbeError, type ProbeConnectionOptions, type ProbeTarget } from './probe-connection.ts';

/** Where a probe for a recipient goes (built from the delivery route or smarthost). */
export interface NextHop {
  /** Pools and cache entries are kept per key (hosts, TLS, AUTH user). */
  readonly key: string;
  /** "smarthost 10.0.0.5:25" style, for logs and explain. */
  readonly label: string;
  readonly hosts: readonly ProbeTarget[];
  readonly tls: string;
  readonly auth?: { readonly user: string; readonly pass: string } | undefined;
}

/** accepted: 2xx to RCPT; refused: 5xx to RCPT; temporary: anything else (4xx, no answer, MAIL refused). */
export interface ProbeAnswer {
  readonly kind: 'accepted' | 'refused' | 'temporary';
  readonly reply: string;
}

export interface PoolSettings {
  readonly heloName: string;
  readonly connections: number;
  readonly idleTimeout: number;
  readonly commandTimeout: number;
}

const DOWN_MS = 10_000;
const QUEUE_PER_CONNECTION = 64;

interface IdleConnection {
  readonly conn: ProbeConnection;
  readonly timer: NodeJS.Timeout;
}

export class HopPool {
  readonly hop: NextHop;
  #settings: PoolSettings;
  #busy = 0;
  readonly #idle: IdleConnection[] = [];
  readonly #queue: Array<() => void> = [];
  /** Connections opened so far (tests and the bench count them). */
  opened = 0;
  #closed = false;
  #downUntil = 0;
  #downReason = '';

  constructor(hop: NextHop, settings: PoolSettings) {
    this.hop = hop;
    this.#settings = settings;
  }

  update(settings: PoolSettings): void {
    this.#settings = settings;
  }

  get idle(): number {
    return this.#idle.length;
  }

  /** MAIL FROM:<> / RCPT TO:<address> / RSET. Never rejects. */
  async probe(address: string): Promise<ProbeAnswer> {
    if (Date.now() < this.#downUntil) return { kind: 'temporary', reply: `next hop unreachable: ${this.#downReason}` };
    if (this.#queue.length >= this.#settings.connections * QUEUE_PER_CONNECTION) return { kind: 'temporary', reply: 'next hop busy: too many probes waiting' };
    await this.#slot();
    try {
      if (Date.now() < this.#downUntil) return { kind: 'temporary', reply: `next hop unreachable: ${this.#downReason}` };
      let conn = this.#takeIdle();
      const reused = conn !== undefined;
      if (!conn) {
        const opened = await this.#open();
        if ('kind' in opened) return opened;
        conn = opened;
      }
      try {
        return await this.#ask(conn, address);
      } catch (error) {
        conn.close();
        // A reused connection the next hop closed while idle: once more on a fresh one.
        if (!reused || !(error instanceof ProbeError) || error.code !== 'PROBE_CLOSED') return temporary(error);
        const fresh = await this.#open();
        if ('kind' in fresh) return fresh;
        try {
          return await this.#ask(fresh, address);
        } catch (again) {
          fresh.close();
          return temporary(again);
        }
      }
    } finally {
      this.#release();
    }
  }

  /** QUIT every idle connection; probes in flight finish and their connections are closed. */
  close(): void {
    this.#closed = true;
    for (const { conn, timer } of this.#idle.splice(0)) {
      clearTimeout(timer);
      conn.quit();
    }
  }

  async #ask(conn: ProbeConnection, address: string): Promise<ProbeAnswer> {
    const mail = await conn.command('MAIL FROM:<>');
    // 421: the server is closing this connection (a reused one may be retried on a fresh one).
    if (mail.code === 421) throw new ProbeError('PROBE_CLOSED', `MAIL FROM:<>: ${mail.code} ${mail.text}`);
    if (mail.code < 200 || mail.code >= 300) {
      await this.#reset(conn);
      return { kind: 'temporary', reply: `MAIL FROM:<> refused: ${mail.code} ${mail.text}` };
    }
    const rcpt = await conn.command(`RCPT TO:<${address}>`);
    await this.#reset(conn);
    const reply = `${rcpt.code} ${rcpt.text}`.slice(0, 300);
    if (rcpt.code >= 200 && rcpt.code < 300) return { kind: 'accepted', reply };
    if (rcpt.code >= 500 && rcpt.code < 600) return { kind: 'refused', reply };
    return { kind: 'temporary', reply };
  }

  /** RSET, then the connection goes back to the idle list (or is closed if RSET failed). */
  async #reset(conn: ProbeConnection): Promise<void> {
    let ok = false;
    try {
      ok = (await conn.command('RSET')).code === 250;
    } catch {
      ok = false;
    }
    if (ok && !this.#closed) this.#putIdle(conn);
    else conn.close();
  }

  async #open(): Promise<ProbeConnection | ProbeAnswer> {
    const problems: string[] = [];
    for (const target of this.hop.hosts) {
      const options: ProbeConnectionOptions = {
        heloName: this.#settings.heloName,
        tls: this.hop.tls,
        auth: this.hop.auth,
        commandTimeout: this.#settings.commandTimeout,
      };
      try {
        this.opened++;
        return await ProbeConnection.open(target, options);
      } catch (error) {
        // Opportunistic TLS that fails its handshake: in clear text, as delivery does.
        if (error instanceof ProbeError && error.code === 'PROBE_TLS' && this.hop.tls === 'opportunistic' && !this.hop.auth) {
          try {
            this.opened++;
            return await ProbeConnection.open(target, { ...options, tls: 'none' });
          } catch (again) {
            problems.push(`${target.host}:${target.port}: ${(again as Error).message}`);
            continue;
          }
        }
        problems.push(`${target.host}:${target.port}: ${(error as Error).message}`);
      }
    }
    this.#downReason = problems.join('; ').slice(0, 300) || 'no host to ask';
    this.#downUntil = Date.now() + DOWN_MS;
    return { kind: 'temporary', reply: this.#downReason };
  }

  #takeIdle(): ProbeConnection | undefined {
    while (this.#idle.length > 0) {
      const entry = this.#idle.pop() as IdleConnection;
      clearTimeout(entry.timer);
      if (entry.conn.usable) return entry.conn;
    }
    return undefined;
  }

  #putIdle(conn: ProbeConnection): void {
    const entry: IdleConnection = {
      conn,
      timer: setTimeout(() => {
        const index = this.#idle.indexOf(entry);
        if (index !== -1) this.#idle.splice(index, 1);
        conn.quit();
      }, this.#settings.idleTimeout),
    };
    entry.timer.unref();
    this.#idle.push(entry);
  }

  #slot(): Promise<void> {
    if (this.#busy < this.#settings.connections) {
      this.#busy++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.#queue.push(resolve));
  }

  #release(): void {
    const next = this.#queue.shift();
    if (next) next();
    else this.#busy--;
  }
}

function temporary(error: unknown): ProbeAnswer {
  return { kind: 'temporary', reply: (error instanceof Error ? error.message : String(error)).slice(0, 300) };
}

// Account anomaly state shared through Redis (config [cluster]; issue 19
// item 2): the AccountStateStore of src/accounts/account-store.ts for a
// cluster. What stays per instance is kept where a single instance keeps it
// (the local AccountStore file: baselines, known senders, and the queue ids
// each instance holds in its own spool); what the instances share goes
// through Redis:
//   <prefix>accounts:events     pub/sub channel: each instance's logins,
//                               messages (recipient domains) and remote
//                               answers, counted into every other instance's
//                               windows; suspect episodes opened or widened;
//                               releases
//   <prefix>accounts:suspects   hash user -> suspect (JSON, no held ids): the
//                               episodes in force, read by an instance that
//                               starts or comes back after an outage
// Every instance judges only its own traffic, on windows that hold everyone's,
// so a bot spreading its logins and messages over several relays meets one
// bar; a lock or hold set on one instance holds on all, a release on one ends
// the episode on all, and each releases the messages it holds itself.
//
// Fail-open always (whatever cluster.fail_open says: refusing mail because
// the detector cannot share would be worse than detecting per instance):
// with Redis unreachable each instance judges on its own windows, the link
// logs the outage once and counts it (relayguard_redis_outages_total), and
// events of that time are not replayed. Suspects are read back from the hash
// when the subscription is ready again.
import type { Redis } from 'ioredis';
import type { Logger } from '../log/logger.ts';
import type { AccountStateStore, AccountsState, SharedAccountEvent, SharedSuspect } from '../accounts/account-store.ts';
import type { RedisLink } from './redis-link.ts';

interface Envelope {
  readonly from: string;
  readonly event: SharedAccountEvent;
}

function isSuspect(value: unknown): value is SharedSuspect {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.user === 'string' && typeof v.since === 'string' && (v.state === 'locked' || v.state === 'held' || v.state === 'logged') && Array.isArray(v.triggers);
}

export class RedisAccountStore implements AccountStateStore {
  readonly #local: AccountStateStore;
  readonly #link: RedisLink;
  readonly #instance: string;
  readonly #channel: string;
  readonly #hash: string;
  readonly #logger: Logger;
  /** Its own connection for the account events and the suspects hash (see the constructor). */
  readonly #client: Redis;
  #subscriber: Redis | undefined;
  #handler: ((event: SharedAccountEvent) => void) | undefined;
  /** The monitor's latest state (from save), to put our episodes back after an outage. */
  #read: (() => AccountsState) | undefined;

  constructor(options: { local: AccountStateStore; link: RedisLink; keyPrefix: string; instance: string; logger: Logger }) {
    this.#local = options.local;
    this.#link = options.link;
    this.#instance = options.instance;
    this.#channel = `${options.keyPrefix}accounts:events`;
    this.#hash = `${options.keyPrefix}accounts:suspects`;
    this.#logger = options.logger;
    // Not the link's own (auto-pipelined) connection: with these commands on
    // it, ioredis threw "results[i] is not iterable" out of its pipeline
    // callback in test/cluster/two-instances.cluster.ts (an uncaught
    // exception; cf. redis/ioredis#1931); on their own connection it did not
    // in repeated runs. The offline queue waits out the first connect;
    // link.run bounds every command and sends none while Redis is down.
    this.#client = options.link.client.duplicate({ enableAutoPipelining: false, enableOfflineQueue: true });
    this.#client.on('error', () => undefined);
  }

  /** The local file; suspects in Redis that it lacks are added (opened elsewhere while this instance was down). */
  async load(): Promise<AccountsState> {
    const state = await this.#local.load();
    const shared = await this.#readSuspects();
    const have = new Set(state.suspects.map((s) => s.user.toLowerCase()));
    const added = shared.filter((s) => !have.has(s.user.toLowerCase())).map((s) => ({ ...s, heldIds: [] }));
    // Ours that Redis lacks (a Redis that restarted empty) are put back, so a lock outlives the restart.
    for (const s of state.suspects) {
      if (shared.some((x) => x.user.toLowerCase() === s.user.toLowerCase())) continue;
      const { heldIds: _held, ...rest } = s;
      this.#write(rest);
    }
    return { ...state, suspects: [...state.suspects, ...added] };
  }

  save(read: () => AccountsState): Promise<void> {
    this.#read = read;
    return this.#local.save(read);
  }

  share(event: SharedAccountEvent): void {
    const message = JSON.stringify({ from: this.#instance, event } satisfies Envelope);
    if (event.type === 'suspect') this.#write(event.suspect);
    const hash = this.#hash;
    const client = this.#client;
    const run = event.type === 'release'
      ? async (): Promise<unknown> => client.multi().hdel(hash, event.user.toLowerCase()).publish(this.#channel, message).exec()
      : async (): Promise<unknown> => client.publish(this.#channel, message);
    // Fail-open: the link logged and counted the outage; this instance goes on with its own windows.
    this.#link.run(run).catch(() => undefined);
  }

  subscribe(handler: (event: SharedAccountEvent) => void): void {
    this.#handler = handler;
    if (this.#subscriber) return;
    const sub = this.#link.client.duplicate({ enableAutoPipelining: false });
    this.#subscriber = sub;
    // Outages are the link's to log (once); the subscriber reconnects by itself.
    sub.on('error', () => undefined);
    sub.on('ready', () => {
      sub.subscribe(this.#channel).catch(() => undefined);
      void this.#resync();
    });
    sub.on('message', (channel: string, text: string) => {
      if (channel !== this.#channel) return;
      let parsed: Envelope;
      try {
        parsed = JSON.parse(text) as Envelope;
      } catch {
        return;
      }
      if (parsed.from === this.#instance || typeof parsed.event !== 'object' || parsed.event === null) return;
      try {
        this.#handler?.(parsed.event);
      } catch (error) {
        this.#logger.error({ err: error, type: parsed.event.type }, 'cannot apply an account event from another instance');
      }
    });
  }

  async close(): Promise<void> {
    const sub = this.#subscriber;
    this.#subscriber = undefined;
    await Promise.all([sub, this.#client].map(async (client) => {
      if (!client) return;
      try {
        await Promise.race([client.quit(), new Promise((_, reject) => setTimeout(reject, this.#link.commandTimeoutMs).unref())]);
      } catch {
        client.disconnect();
      }
    }));
  }

  /**
   * After connecting (again): episodes opened elsewhere while we could not
   * hear them are applied here, and ours that Redis lacks (opened here during
   * the outage, or a Redis that restarted empty) are written and told again.
   * A release made elsewhere during the outage is not known here, so such an
   * episode comes back on every instance: the safe side for a stolen password.
   */
  async #resync(): Promise<void> {
    // This connection may be back before the link's (bounded: 40 x 250 ms).
    for (let i = 0; i < 40 && !this.#link.health.usable; i++) await new Promise((resolve) => setTimeout(resolve, 250).unref());
    if (!this.#link.health.usable || this.#subscriber === undefined) return;
    const shared = await this.#readSuspects();
    for (const suspect of shared) this.#handler?.({ type: 'suspect', suspect });
    const known = new Set(shared.map((s) => s.user.toLowerCase()));
    for (const s of this.#read?.().suspects ?? []) {
      if (known.has(s.user.toLowerCase())) continue;
      const { heldIds: _held, ...rest } = s;
      this.share({ type: 'suspect', suspect: rest });
    }
  }

  #write(suspect: SharedSuspect): void {
    this.#link.run(() => this.#client.hset(this.#hash, suspect.user.toLowerCase(), JSON.stringify(suspect))).catch(() => undefined);
  }

  async #readSuspects(): Promise<SharedSuspect[]> {
    let all: Record<string, string>;
    try {
      all = await this.#link.run(() => this.#client.hgetall(this.#hash));
    } catch {
      return [];
    }
    const out: SharedSuspect[] = [];
    for (const text of Object.values(all)) {
      try {
        const value: unknown = JSON.parse(text);
        if (isSuspect(value)) out.push(value);
      } catch {
        // An entry we cannot read is skipped (another version wrote it).
      }
    }
    return out;
  }
}

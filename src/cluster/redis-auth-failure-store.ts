// AUTH failure counters and lockouts on Redis (src/auth/failure-store.ts's
// AuthFailureStore), so a lockout made through one instance holds on all of
// them. Same semantics as MemoryAuthFailureStore, each operation one atomic
// Lua script (one round trip, no interleaving between instances):
//   <prefix>auth:fail:<key>   failures in the window (INCR, PEXPIRE on the first)
//   <prefix>auth:lock:<key>   present while locked (SET PX lockout)
// At `lockAfter` failures the key is locked and its count starts again from
// zero; reset() forgets the failures but never lifts a lock in force.
//
// SharedAuthFailureStore puts the link's bound and fallback around it: with
// fail_open an unreachable Redis means this instance's own counters, with
// fail_open = false the Authenticator hears the error (454 4.7.0).
import type { Redis } from 'ioredis';
import type { AuthFailureStore, FailureLimits, FailureState } from '../auth/failure-store.ts';
import { MemoryAuthFailureStore } from '../auth/failure-store.ts';
import type { RedisLink } from './redis-link.ts';

// KEYS: failures, lock. ARGV: window ms, lock after, lock ms. Returns { failures, locked ms }.
const RECORD_FAILURE = `
local failures = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local locked = redis.call('PTTL', KEYS[2])
if failures >= tonumber(ARGV[2]) and locked <= 0 then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return { 0, tonumber(ARGV[3]) }
end
if locked < 0 then locked = 0 end
return { failures, locked }
`;

// KEYS: failures, lock. Returns { failures, locked ms }.
const PEEK = `
local failures = tonumber(redis.call('GET', KEYS[1]) or '0')
local locked = redis.call('PTTL', KEYS[2])
if locked < 0 then locked = 0 end
return { failures, locked }
`;

interface AuthCommands {
  relayguardAuthRecord(failures: string, lock: string, windowMs: number, lockAfter: number, lockMs: number): Promise<[number, number]>;
  relayguardAuthPeek(failures: string, lock: string): Promise<[number, number]>;
}

export class RedisAuthFailureStore implements AuthFailureStore {
  readonly #client: Redis & AuthCommands;
  readonly #prefix: string;

  constructor(client: Redis, keyPrefix: string) {
    client.defineCommand('relayguardAuthRecord', { numberOfKeys: 2, lua: RECORD_FAILURE });
    client.defineCommand('relayguardAuthPeek', { numberOfKeys: 2, lua: PEEK });
    this.#client = client as Redis & AuthCommands;
    this.#prefix = `${keyPrefix}auth:`;
  }

  #keys(key: string): [string, string] {
    return [`${this.#prefix}fail:${key}`, `${this.#prefix}lock:${key}`];
  }

  async peek(key: string): Promise<FailureState> {
    const [failures, lockedForMs] = await this.#client.relayguardAuthPeek(...this.#keys(key));
    return { failures: Number(failures), lockedForMs: Number(lockedForMs) };
  }

  async recordFailure(key: string, limits: FailureLimits): Promise<FailureState> {
    const [failures, lockedForMs] = await this.#client.relayguardAuthRecord(
      ...this.#keys(key), Math.max(1, Math.round(limits.windowMs)), limits.lockAfter, Math.max(1, Math.round(limits.lockMs)),
    );
    return { failures: Number(failures), lockedForMs: Number(lockedForMs) };
  }

  async reset(key: string): Promise<void> {
    await this.#client.del(this.#keys(key)[0]);
  }
}

export class SharedAuthFailureStore implements AuthFailureStore {
  readonly #link: RedisLink;
  readonly #shared: AuthFailureStore;
  readonly #local: AuthFailureStore;
  readonly #failOpen: boolean;

  constructor(options: { link: RedisLink; keyPrefix: string; failOpen: boolean; local?: AuthFailureStore }) {
    this.#link = options.link;
    this.#shared = new RedisAuthFailureStore(options.link.client, options.keyPrefix);
    this.#local = options.local ?? new MemoryAuthFailureStore();
    this.#failOpen = options.failOpen;
  }

  async #either<T>(shared: (store: AuthFailureStore) => Promise<T>): Promise<T> {
    try {
      return await this.#link.run(() => shared(this.#shared));
    } catch (error) {
      if (!this.#failOpen) throw error;
      return shared(this.#local);
    }
  }

  peek(key: string): Promise<FailureState> {
    return this.#either((store) => store.peek(key));
  }

  recordFailure(key: string, limits: FailureLimits): Promise<FailureState> {
    return this.#either((store) => store.recordFailure(key, limits));
  }

  reset(key: string): Promise<void> {
    return this.#either((store) => store.reset(key));
  }
}

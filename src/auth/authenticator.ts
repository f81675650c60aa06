// The credential check: an I/O fact the session driver (src/session) gathers
// for the AUTH stage; the decision itself is the engine's AUTH rule list
// (policy/rules/auth-*.ts), the same for `serve` and `explain`.
//   authenticator.check({ method, username, password, clientIp, tls }, snapshot) -> AuthFacts (+ user)
// The driver runs the attempt rules first (listener offers AUTH, TLS,
// mechanism: engine.prepareAuth), so a refused attempt is never verified or
// counted. The check, in order:
//   1. client IP or user name locked -> 'locked' (no verification)
//   2. >= failures_before_delay failures counted -> wait failure_delay first
//   3. verify: a known user against their hash, an unknown name against a
//      dummy hash of the same cost, so both cost the same scrypt run and end
//      in the same 'failed', counted for the IP and the name
//   4. success -> 'ok'; the user's counter is reset (the IP's is not: one
//      valid account must not let a client keep guessing the others).
//   Counters unreachable with fail_open = false -> AuthError AUTH_STORE_UNAVAILABLE
//   (the driver gathers it as the 'unavailable' outcome: 454 4.7.0).
// `authenticate()` is check() followed by the same engine rules, for callers
// with no session (tests, bench/auth-timing.ts).
// The password never leaves this class except into scrypt.
//
// smtp-server 3.21 wiring (checked against its smtp-connection.js): it always
// advertises AUTH in EHLO, and by default answers AUTH before STARTTLS itself
// ("538 Error: Must issue a STARTTLS command first", no 5.7.11, onAuth never
// called, so no Decision). With allowInsecureAuth: true every AUTH reaches
// onAuth -> the driver, and the auth-tls rule gives the contract's reply. On a
// listener without STARTTLS smtp-server allows cleartext AUTH whatever the
// option says, so that rule is the guard that holds. Put the UserRecord's
// name, not the record, into smtp-server's session.user: its debug log prints session.user.
import { setTimeout as sleepFor } from 'node:timers/promises';
import type { Config } from '../config/schema.ts';
import type { Decision, DetailValue } from '../policy/decision.ts';
import type { AuthFacts } from '../policy/facts.ts';
import { evaluateAuth, prepareAuth } from '../policy/engine.ts';
import { AuthError } from './errors.ts';
import type { AuthFailureStore, FailureLimits, FailureState } from './failure-store.ts';
import { failureKeys, type FailureKeys } from './failure-keys.ts';
import { dummyHash, formatParams, verifyParsed, type ParsedHash, type ScryptParams } from './password-hash.ts';
import type { UserDirectory, UserRecord } from '../config/users-file.ts';

export interface AuthRequest {
  /** SASL mechanism as smtp-server reports it ("PLAIN", "LOGIN"). */
  readonly method: string;
  readonly username: string;
  readonly password: string;
  readonly clientIp: string;
  /** True after STARTTLS or on an implicit-TLS listener (smtp-server's session.secure). */
  readonly tls: boolean;
}

/** The part of the connection's PolicySnapshot authentication reads. */
export interface AuthPolicy {
  readonly users: UserDirectory;
  readonly config: { readonly auth: Config['auth'] };
}

export interface AuthResult {
  readonly decision: Decision;
  /** Set exactly when decision.reason is 'auth.ok'. */
  readonly user?: UserRecord;
}

export interface AuthenticatorOptions {
  readonly store: AuthFailureStore;
  /** Injected for tests; defaults to a real timer. */
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * scrypt runs on libuv's thread pool (4 threads), which the spool's fs calls
   * and dns.lookup share; at most this many hashes run at once, the rest wait.
   */
  readonly maxConcurrentHashes?: number;
  /** Counter store down: true (default) keeps authenticating without counters. */
  readonly failOpen?: boolean;
  /** Told about every store failure (for one loud log line and a metric). */
  readonly onStoreError?: (error: unknown) => void;
  /** The verification itself; tests and benchmarks wrap the real one to observe it. */
  readonly verify?: (password: string, hash: ParsedHash) => Promise<boolean>;
}

/** What the check found: the fact for the AUTH rules, and the user on success. */
export interface CredentialCheck {
  readonly facts: AuthFacts;
  /** Set exactly when facts.outcome is 'ok'. */
  readonly user?: UserRecord;
}
const NO_FAILURES: FailureState = { failures: 0, lockedForMs: 0 };

export class Authenticator {
  readonly #store: AuthFailureStore;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #gate: Gate;
  readonly #failOpen: boolean;
  readonly #onStoreError: (error: unknown) => void;
  readonly #verify: (password: string, hash: ParsedHash) => Promise<boolean>;
  readonly #dummies = new Map<string, ParsedHash>();

  constructor(options: AuthenticatorOptions) {
    this.#store = options.store;
    this.#sleep = options.sleep ?? ((ms) => sleepFor(ms));
    this.#gate = new Gate(options.maxConcurrentHashes ?? 2);
    this.#failOpen = options.failOpen ?? true;
    this.#onStoreError = options.onStoreError ?? (() => {});
    this.#verify = options.verify ?? verifyParsed;
  }

  /**
   * check() and the engine's AUTH rules, for callers without a session
   * (tests, benchmarks): the attempt as a submission listener would see it.
   */
  async authenticate(request: AuthRequest, policy: AuthPolicy): Promise<AuthResult> {
    const ctx = {
      listener: { name: 'auth', role: 'submission', tls: 'starttls', authOffered: true },
      clientIp: request.clientIp,
      tls: request.tls,
      recipients: [],
      ours: { hostname: '', addresses: new Set<string>() },
      attempt: { user: request.username.slice(0, 64), mechanism: request.method.toUpperCase() },
    } as const;
    const prepared = prepareAuth(ctx, policy);
    if (!prepared.ok) return { decision: prepared.decision };
    const checked = await this.check(request, policy);
    const decision = evaluateAuth(ctx, policy, { auth: checked.facts });
    return decision.reason === 'auth.ok' && checked.user ? { decision, user: checked.user } : { decision };
  }

  /**
   * The credential check (counters, delay, scrypt). Throws AuthError when the
   * hash fails or (fail closed) the counters are unreachable; the driver
   * turns the latter into the 'unavailable' outcome.
   */
  async check(request: AuthRequest, policy: AuthPolicy): Promise<CredentialCheck> {
    const detail: Record<string, DetailValue> = {};
    const limits = policy.config.auth;
    const keys = failureKeys(request.clientIp, request.username);
    const [ipState, userState] = await this.#guarded(
      () => Promise.all([this.#store.peek(keys.ip), this.#store.peek(keys.user)]),
      [NO_FAILURES, NO_FAILURES],
    );
    const lockedForMs = Math.max(ipState.lockedForMs, userState.lockedForMs);
    if (lockedForMs > 0) {
      detail.locked = ipState.lockedForMs > 0 ? (userState.lockedForMs > 0 ? 'ip+user' : 'ip') : 'user';
      detail.retry_after_s = Math.ceil(lockedForMs / 1000);
      return { facts: { outcome: 'locked', detail } };
    }
    if (Math.max(ipState.failures, userState.failures) >= limits.failures_before_delay && limits.failure_delay > 0) {
      await this.#sleep(limits.failure_delay);
      detail.delayed_ms = limits.failure_delay;
    }

    const user = policy.users.get(request.username);
    const hash = user?.parsedHash ?? this.#dummy(policy.users.typicalParams);
    let matched: boolean;
    try {
      matched = await this.#gate.run(() => this.#verify(request.password, hash));
    } catch (error) {
      throw new AuthError('AUTH_HASH_FAILED', 'password verification failed', { cause: error });
    }

    if (matched && user) {
      await this.#guarded(() => this.#store.reset(keys.user), undefined);
      detail.user = user.name;
      return { facts: { outcome: 'ok', detail }, user };
    }
    const after = await this.#recordFailure(keys, {
      windowMs: limits.failure_window,
      lockAfter: limits.failures_before_lockout,
      lockMs: limits.lockout,
    });
    detail.ip_failures = after.ip.failures;
    detail.user_failures = after.user.failures;
    // This attempt still hears 535 (its credentials were wrong); the next one hears 454.
    if (after.ip.lockedForMs > 0 || after.user.lockedForMs > 0) detail.locked_now = true;
    return { facts: { outcome: 'failed', detail } };
  }

  async #recordFailure(keys: FailureKeys, limits: FailureLimits): Promise<{ ip: FailureState; user: FailureState }> {
    const [ip, user] = await this.#guarded(
      () => Promise.all([this.#store.recordFailure(keys.ip, limits), this.#store.recordFailure(keys.user, limits)]),
      [NO_FAILURES, NO_FAILURES],
    );
    return { ip, user };
  }

  /** Runs a store operation; a failure is reported and then fails open or closed. */
  async #guarded<T>(operation: () => Promise<T>, fallback: T): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      this.#onStoreError(error);
      if (this.#failOpen) return fallback;
      throw new AuthError('AUTH_STORE_UNAVAILABLE', 'authentication failure counters unavailable', { cause: error });
    }
  }

  #dummy(params: ScryptParams): ParsedHash {
    const key = formatParams(params);
    let hash = this.#dummies.get(key);
    if (!hash) {
      hash = dummyHash(params);
      this.#dummies.set(key, hash);
    }
    return hash;
  }
}

/** A counting semaphore: at most `limit` tasks run at once, the rest queue in order. */
class Gate {
  #active = 0;
  readonly #waiting: Array<() => void> = [];
  readonly limit: number;

  constructor(limit: number) {
    this.limit = Math.max(1, limit);
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active < this.limit) this.#active++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve)); // the slot is handed over
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    }
  }
}

// The one call the SMTP front door makes from smtp-server's onAuth:
//   authenticator.authenticate({ method, username, password, clientIp, tls }, snapshot)
// It returns an auth-stage Decision (and the user on success); it throws only
// AuthError for operational failures. In order:
//   1. no TLS                        -> 538 5.7.11  auth.tls_required
//   2. not PLAIN/LOGIN               -> 504 5.5.4   auth.not_offered
//   3. client IP or user name locked -> 454 4.7.0   auth.locked (no verification)
//   4. >= failures_before_delay failures counted -> wait failure_delay first
//   5. verify: a known user against their hash, an unknown name against a
//      dummy hash of the same cost, so both cost the same scrypt run and end
//      in the same 535 5.7.8 auth.failed, counted for the IP and the name
//   6. success -> auth.ok; the user's counter is reset (the IP's is not: one
//      valid account must not let a client keep guessing the others).
// The password never leaves this function except into scrypt.
//
// smtp-server 3.21 wiring (checked against its smtp-connection.js): it always
// advertises AUTH in EHLO, and by default answers AUTH before STARTTLS itself
// ("538 Error: Must issue a STARTTLS command first", no 5.7.11, onAuth never
// called, so no Decision). With allowInsecureAuth: true every AUTH reaches
// onAuth -> here, and step 1 gives the contract's reply. On a listener without
// STARTTLS smtp-server allows cleartext AUTH whatever the option says, so step
// 1 is the guard that holds. Put the UserRecord's name, not the record, into
// smtp-server's session.user: its debug log prints session.user.
import { setTimeout as sleepFor } from 'node:timers/promises';
import type { Config } from '../config/schema.ts';
import { defer, permit, reject, type Decision, type DetailValue } from '../policy/decision.ts';
import { AuthError } from './errors.ts';
import type { AuthFailureStore, FailureLimits, FailureState } from './failure-store.ts';
import { failureKeys, type FailureKeys } from './failure-keys.ts';
import { dummyHash, formatParams, verifyParsed, type ParsedHash, type ScryptParams } from './password-hash.ts';
import type { UserDirectory, UserRecord } from '../config/users-file.ts';

export const AUTH_RULE = 'auth';

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

const REPLY_TLS_REQUIRED = { code: 538, enhanced: '5.7.11', text: 'Encryption required for requested authentication mechanism' };
const REPLY_NOT_OFFERED = { code: 504, enhanced: '5.5.4', text: 'Unrecognized authentication type' };
const REPLY_LOCKED = { code: 454, enhanced: '4.7.0', text: 'Too many failed authentication attempts, try again later' };
const REPLY_FAILED = { code: 535, enhanced: '5.7.8', text: 'Authentication credentials invalid' };
const METHODS = new Set(['PLAIN', 'LOGIN']);
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

  async authenticate(request: AuthRequest, policy: AuthPolicy): Promise<AuthResult> {
    const method = request.method.toUpperCase();
    const detail: Record<string, DetailValue> = { method, user: request.username.slice(0, 64) };
    if (!request.tls) return { decision: reject('auth', AUTH_RULE, 'auth.tls_required', REPLY_TLS_REQUIRED, detail) };
    if (!METHODS.has(method)) return { decision: reject('auth', AUTH_RULE, 'auth.not_offered', REPLY_NOT_OFFERED, detail) };

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
      return { decision: defer('auth', AUTH_RULE, 'auth.locked', REPLY_LOCKED, detail) };
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
      return { decision: permit('auth', AUTH_RULE, 'auth.ok', detail), user };
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
    return { decision: reject('auth', AUTH_RULE, 'auth.failed', REPLY_FAILED, detail) };
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

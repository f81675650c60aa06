// PURE. Counts in, facts out: the comparison of what the counters measured
// with the thresholds of limits.toml (and a user's quota from users.toml).
// A count includes the event being decided, so "over" means count > limit:
// with a limit of 3, the 3rd message passes and the 4th is deferred.
import type { LimitsPolicy, RateWindow, RateWindows } from '../../config/limits-file.ts';
import type { ConnectionFacts, RateExceeded, RateScope } from '../../policy/facts.ts';
import type { UserQuota } from '../../config/users-file.ts';

export interface ConnectionCounts {
  /** Open connections of the process, this one included; absent when not counted (a policy-service session). */
  readonly global?: number;
  /** Open connections of this client, this one included; absent for exempt clients. */
  readonly ip?: number;
  /** New connections of this client per window of limits.ip.connections, this one included. */
  readonly ipRates?: ReadonlyArray<{ readonly window: RateWindow; readonly count: number }>;
}

/** The one connection limit this connection exceeds; the global cap first (it applies to everyone). */
export function connectionExceeded(counts: ConnectionCounts, limits: LimitsPolicy): ConnectionFacts['exceeded'] {
  if (counts.global !== undefined && limits.global.maxConnections > 0 && counts.global > limits.global.maxConnections) return 'conn.global_limit';
  if (counts.ip !== undefined && limits.ip.maxConnections > 0 && counts.ip > limits.ip.maxConnections) return 'conn.limit';
  if (counts.ipRates?.some(({ window, count }) => count > window.count)) return 'conn.rate';
  return undefined;
}

/** One window that applies to this client, named as the administrator wrote it. */
export interface ApplicableWindow {
  readonly scope: RateScope;
  /** "ip.messages", "user.recipients", "quota.messages_per_hour". */
  readonly name: string;
  readonly window: RateWindow;
  /** From the user's quota in users.toml. */
  readonly quota?: boolean;
}

export interface CountedWindow extends ApplicableWindow {
  readonly count: number;
}

export function rateExceeded(counted: readonly CountedWindow[]): RateExceeded[] {
  return counted
    .filter(({ window, count }) => count > window.count)
    .map(({ scope, name, window, quota }) => ({ scope, limit: `${name} ${window.text}`, ...(quota ? { quota: true } : {}) }));
}

export type CountedKind = 'messages' | 'recipients';

const HOUR = 3_600_000;
const DAY = 86_400_000;

/**
 * The windows of one authenticated user: the quota from users.toml when it
 * sets any window of this kind (it replaces the [user] defaults of that kind
 * entirely: an administrator who wrote a quota meant exactly that quota),
 * else the [user] defaults of limits.toml.
 */
export function userWindows(kind: CountedKind, quota: UserQuota | undefined, limits: LimitsPolicy): ApplicableWindow[] {
  const perHour = kind === 'messages' ? quota?.messagesPerHour : quota?.recipientsPerHour;
  const perDay = kind === 'messages' ? quota?.messagesPerDay : quota?.recipientsPerDay;
  if (perHour === undefined && perDay === undefined) return named('user', `user.${kind}`, limits.user[kind]);
  const windows: ApplicableWindow[] = [];
  if (perHour !== undefined) windows.push({ scope: 'user', name: `quota.${kind}_per_hour`, window: { count: perHour, windowMs: HOUR, text: `${perHour}/1h` }, quota: true });
  if (perDay !== undefined) windows.push({ scope: 'user', name: `quota.${kind}_per_day`, window: { count: perDay, windowMs: DAY, text: `${perDay}/1d` }, quota: true });
  return windows;
}

export function named(scope: RateScope, name: string, windows: RateWindows): ApplicableWindow[] {
  return windows.map((window) => ({ scope, name, window }));
}

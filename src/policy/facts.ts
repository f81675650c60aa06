// PURE (types only). What rules need from the world, gathered asynchronously
// by facts/ and auth/ BEFORE a stage is evaluated, then handed in as plain
// values. Every field is optional: absent means "not gathered" (the rule that
// reads it says dunno), never "all clear" by invention. Each owner fills its
// field; the rule that reads it lives in policy/rules/.
import type { DetailValue, Stage } from './decision.ts';
import type { SessionContext } from './context.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';

/** Connection counters already compared by the limits module (issue 8). */
export interface ConnectionFacts {
  /** Which connection limit this connection exceeds, if any. */
  readonly exceeded?: 'conn.limit' | 'conn.rate' | 'conn.global_limit';
  /** The counters could not be asked (shared store down, fail closed). */
  readonly unavailable?: true;
  /** What the counters said, this connection included (for the decision journal and replay). */
  readonly counts?: ConnectionCounted;
}

/**
 * Counter values at connect: open connections (global, this client's) and new
 * connections per rate window. No open-connection counts for a policy-service
 * session (Postfix never says when one ends; ListenerInfo.source).
 */
export interface ConnectionCounted {
  readonly global?: number;
  readonly ip?: number;
  readonly ipRates?: ReadonlyArray<{ readonly windowMs: number; readonly count: number }>;
}

/** One rate window's count at decision time, this event included (journal and replay). */
export interface WindowCounted {
  readonly scope: RateScope;
  /** "ip.messages", "user.recipients", "quota.messages_per_hour". */
  readonly name: string;
  readonly windowMs: number;
  readonly count: number;
}

/** DNSBL/DNSWL answers for the client, its HELO and its sender (issue 6); scored by dnsbl-rule.ts. */
export type { DnsblFacts } from './dnsbl-rule.ts';
import type { DnsblFacts } from './dnsbl-rule.ts';

export type RateScope = 'ip' | 'user' | 'sender_domain';

/** One rate window already exceeded (issue 8); counting happens in facts/limits. */
export interface RateExceeded {
  readonly scope: RateScope;
  /** The limit's name as written in limits.toml, for logs. */
  readonly limit: string;
  /** True for a user's own quota from users.toml. */
  readonly quota?: boolean;
}

export interface RateFacts {
  readonly exceeded: readonly RateExceeded[];
  /** A counter that applies to this client could not be asked (shared store down, fail closed). */
  readonly unavailable?: true;
  /** The counts behind `exceeded` (journal and replay). */
  readonly counts?: readonly WindowCounted[];
}

/** Whether the sender's domain can receive mail (issue 8, reject_unknown_sender_domain). */
export interface SenderDomainFacts {
  readonly status: 'ok' | 'nxdomain' | 'null_mx' | 'temp_fail';
}

/**
 * What the next hop said about a local recipient (issue 16, live recipient
 * verification: facts/recipient-probe). Absent: not verified live (feature
 * off, exempt client, domain not selected, MX-direct, static file said unknown).
 */
export interface RecipientProbeFacts {
  /**
   * accepted: 2xx to RCPT; refused: 5xx; unavailable: 4xx, unreachable or
   * not answered within the time budget, and nothing cached; not_probed:
   * `explain` without --probe-recipients (the probe would run, but was not).
   */
  readonly outcome: 'accepted' | 'refused' | 'unavailable' | 'not_probed';
  /** unavailable because the time budget ran out (the probe goes on and caches its answer). */
  readonly timedOut?: boolean;
  /** The next hop asked, "smarthost 127.0.0.1:2525" style, for logs. */
  readonly hop: string;
  /** cache: a cached answer; probe: this RCPT asked; shared: joined a probe in flight. */
  readonly source: 'cache' | 'probe' | 'shared' | 'none';
  /** The next hop's reply (cleaned, one line), or what went wrong. */
  readonly reply?: string;
}

/**
 * The outcome of checking credentials (issue 5, auth/authenticator.ts); the
 * password never gets here. 'unavailable': the failure counters could not be
 * asked and cluster.fail_open is false.
 */
export interface AuthFacts {
  readonly outcome: 'ok' | 'failed' | 'locked' | 'unavailable';
  /** What the check counted (failures, lockout, delay), for the log. */
  readonly detail?: Readonly<Record<string, DetailValue>>;
}

/** What the front door measured while receiving DATA (filled as the body streams in). */
export interface MessageFacts {
  /** Octets received so far (the whole message at end of data). */
  readonly size: number;
  /** A bare LF or bare CR was seen (SMTP smuggling). */
  readonly bareLineEnding: boolean;
  /** A NUL octet was seen. */
  readonly nul?: boolean;
  /** The longest line seen, in octets including its CRLF. */
  readonly longestLine?: number;
}

/**
 * What account anomaly detection (src/accounts) says about the user: at AUTH
 * about the name being logged in, at DATA about the authenticated user.
 */
export interface AccountFacts {
  /** Locked until an administrator releases it: AUTH is refused (535 5.7.8). */
  readonly locked: boolean;
  /** The user is suspect: this message is accepted and stored held (the client is not told). */
  readonly hold?: { readonly reason: string; readonly by: string };
}

export interface Facts {
  readonly connection?: ConnectionFacts;
  readonly dnsbl?: DnsblFacts;
  readonly rate?: RateFacts;
  readonly senderDomain?: SenderDomainFacts;
  readonly recipientProbe?: RecipientProbeFacts;
  readonly auth?: AuthFacts;
  readonly message?: MessageFacts;
  readonly account?: AccountFacts;
}

export const NO_FACTS: Facts = Object.freeze({});

/** How the composition root gathers facts for a stage (DNS, counters); injected into explain. */
export type GatherFacts = (stage: Stage, ctx: SessionContext, snapshot: PolicySnapshot) => Promise<Facts>;

// The queue runner's public shape (queue-runner.ts implements it).
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { Spool } from '../spool/spool.ts';
import type { AccountsRequest, ControlReply } from '../spool/control.ts';
import type { Deliverer } from './deliverer.ts';
import type { HoldSelector, OwnSender } from './runner-holds.ts';
import type { OwnAddresses } from './loop-guard.ts';
import type { MxDns } from './mx-resolver.ts';
import type { RecipientResult } from './smtp-reply.ts';

export interface QueueRunnerOptions {
  readonly spool: Spool;
  readonly config: Config;
  readonly logger: Logger;
  /** DNS for MX lookups; default: a node:dns Resolver on config [dns]. */
  readonly resolver?: MxDns;
  readonly now?: () => number;
  /** Our listening addresses (as bound), for the MX loop guard. */
  readonly ownAddresses?: OwnAddresses;
  readonly random?: () => number;
  /** Messages loaded from disk at once (default max(256, 10 x concurrency)). */
  readonly maxLoaded?: number;
  /** Connection reuse: idle time (default 5 s) and messages per connection (default 1000; 1 = no reuse). */
  readonly reuse?: { readonly idleMs?: number; readonly maxMessages?: number };
  /** Carry out `relayguard queue` requests from <spool>/control (default true). */
  readonly control?: boolean;
  /** Answers `relayguard accounts` requests from the same directory (main.ts: the AccountMonitor); absent: detection is off. */
  readonly accountsControl?: (request: AccountsRequest) => Promise<ControlReply>;
  /** Where attempts run (default: in this thread, built from the options above). */
  readonly deliverer?: Deliverer;
  /**
   * Whether an expired hold may be bounced to the message's sender: our own
   * users (authenticated, or a relay-networks client). Default: authenticated only.
   */
  readonly ownSender?: OwnSender;
  /** A sender in one of our local domains known not to exist gets no DSN (main.ts: recipients file, verification cache). */
  readonly senderUnknown?: (sender: string) => boolean;
}

export type DeliveryEvent =
  | { readonly type: 'attempt'; readonly at: number; readonly queueId: string; readonly destination: string; readonly tried: readonly string[]; readonly results: readonly RecipientResult[]; readonly durationMs: number }
  | { readonly type: 'bounce'; readonly queueId: string; readonly bounceId: string; readonly kind: 'failed' | 'delayed' | 'relayed'; readonly recipients: readonly string[] }
  | { readonly type: 'removed'; readonly queueId: string; readonly reason: 'delivered' | 'failed' | 'deleted' | 'bounced' }
  /** The backend refused (5xx) recipients we had verified and accepted from an untrusted client; `dsn` per recipient: was one sent. */
  | { readonly type: 'refused_after_accept'; readonly queueId: string; readonly recipients: readonly string[]; readonly dsn: readonly boolean[] };

export interface RunnerStats {
  readonly queued: number;
  /** Held messages (counted in queued too). */
  readonly held: number;
  readonly oldestReceivedAt: number | undefined;
  readonly loaded: number;
  readonly active: number;
  /** Messages waiting for room at a busy or rate-limited destination. */
  readonly parked: number;
  readonly delivered: number;
  readonly deferred: number;
  readonly failed: number;
  readonly bounces: number;
  /** Recipients the backend refused after we had verified and accepted them from an untrusted client (issue 16). */
  readonly refusedAfterAccept: number;
  /** Failed recipients that got no DSN (backscatter rules: dsn_after_accept, unknown local sender). */
  readonly dsnSuppressed: number;
  readonly idleConnections: number;
}

// `stop` is reassigned once to also close the control watcher.
export interface QueueRunner {
  /** Stops taking work and waits (at most graceMs) for attempts in flight. */
  stop(graceMs?: number): Promise<void>;
  /** Looks at the schedule now (new messages are picked up without it). */
  kick(): void;
  stats(): RunnerStats;
  updateConfig(config: Config): void;
  subscribe(listener: (event: DeliveryEvent) => void): () => void;
  /** Makes one message (or every message) due now. Returns how many. */
  retry(id?: string): Promise<number>;
  /** Removes a message without a bounce; waits for an attempt in flight. */
  remove(id: string): Promise<boolean>;
  /** Fails every open recipient of a message with a bounce to its sender. */
  bounce(id: string, reason?: string): Promise<boolean>;
  /** Holds the selected messages (waits for an attempt in flight); returns the ids now held. */
  hold(selector: HoldSelector, reason: string, by?: string): Promise<string[]>;
  /** Releases the selected held messages (due at once); returns their ids. */
  release(selector: HoldSelector): Promise<string[]>;
  isHeld(id: string): boolean;
  /** The message is in the spool. */
  exists(id: string): boolean;
}

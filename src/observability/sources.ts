// What the dashboard reads from the rest of relayguard: narrow, read-only
// views that the composition root (src/main.ts) builds from the real spool,
// policy store and DNSBL engine. The http folder imports none of those
// modules at run time (types only); a source may be sync or async, and a source that throws shows as
// an error on the page and in /api/status, never as a 500.
import type { GuardReport } from '../config/policy-store.ts';
import type { FileProblem } from '../config/errors.ts';
import type { RedisStatus } from '../cluster/redis-health.ts';
import type { AccountAction, SuspectAccount } from '../accounts/account-control.ts';
import type { SelfCheckEntry } from '../facts/dnsbl/self-check.ts';

/** Account anomaly detection (issue 19 item 2): the suspects and the counts behind the metrics. */
export interface AccountsStatus {
  readonly suspects: readonly SuspectAccount[];
  /** Trigger firings since start, per trigger and action. */
  readonly triggers: ReadonlyArray<{ readonly trigger: string; readonly action: AccountAction; readonly count: number }>;
  /** Suspects now per state. */
  readonly byState: Readonly<Record<SuspectAccount['state'], number>>;
  /** Messages stored held by the detector since start. */
  readonly heldMessages: number;
  /** AUTH refused because the account is locked, since start. */
  readonly lockedLogins: number;
}

export type MaybePromise<T> = T | Promise<T>;

export interface QueueStats {
  /** Messages in the spool (waiting for a first attempt or a retry). */
  readonly size: number;
  /** Of those, held (never delivered until released; issue 19). Absent: the source does not know. */
  readonly held?: number;
  /** Epoch ms when the oldest message in the spool was received; null when empty. */
  readonly oldestReceivedAt: number | null;
  /**
   * Corrupt spool entries kept in data_dir/quarantine (issue 19): how many,
   * and the newest (at most 20), oldest first. Absent: the source does not know.
   */
  readonly quarantine?: {
    readonly count: number;
    readonly entries: ReadonlyArray<{ readonly name: string; readonly reason: string; readonly at: number; readonly bytes: number }>;
  };
  /**
   * Remote refusals of our mail since start, classified (issue 19): per class,
   * per destination domain, and the block lists / providers that name us
   * (listings: replies of the last delivery.listing_window only).
   * Absent: the source does not classify.
   */
  readonly refusals?: {
    readonly byClass: ReadonlyArray<{ readonly class: string; readonly count: number }>;
    readonly byDomain: ReadonlyArray<{ readonly domain: string; readonly class: string; readonly count: number }>;
    readonly listings: ReadonlyArray<{ readonly list: string; readonly class: string; readonly replies: number; readonly domains: number; readonly lastAt: number; readonly lastReply: string }>;
  };
  /** Messages waiting for a retry, per recipient domain, most first. */
  readonly deferredByDomain: ReadonlyArray<{ readonly domain: string; readonly count: number; readonly lastError?: string }>;
}

export interface ReloadSummary {
  /** Epoch ms of the last load or reload attempt. */
  readonly at: number;
  readonly ok: boolean;
  /** The generation now running (unchanged when a reload failed). */
  readonly generation: number;
  /** Empty when ok; otherwise every problem of the refused edit (file:line: message). */
  readonly errors: readonly FileProblem[];
  /** Changes the last reload could not apply ("listeners[0].address changed: needs a restart"). */
  readonly restartNeeded?: readonly string[];
  /**
   * The reload guard's replay of the candidate on disk over recent sessions
   * (src/journal): what it would change, and why it was held back.
   */
  readonly guard?: GuardReport;
}

/**
 * The periodic DNSBL self-check of our own outbound addresses (config
 * [self_check]; src/facts/dnsbl/self-check.ts): one entry per address and
 * zone. unknown = no definite answer (timeout, SERVFAIL, suspended zone);
 * never counted as listed.
 */
export interface SelfCheckView {
  readonly enabled: boolean;
  readonly addresses: readonly string[];
  readonly intervalMs: number;
  readonly lastRunAt: number | null;
  readonly results: readonly SelfCheckEntry[];
}

export interface ZoneStats {
  readonly zone: string;
  /** Lookups sent to the zone (cache hits excluded). */
  readonly queries: number;
  /** Answers that matched the zone's return codes. */
  readonly listed: number;
  /** Error answers (127.255.255.x, SERVFAIL, REFUSED...): a zone problem. */
  readonly errors: number;
  readonly timeouts: number;
  /** Mean lookup latency over the engine's window, null before the first answer. */
  readonly meanLatencyMs: number | null;
  /**
   * The latency histogram of sent queries: cumulative counts per upper bound
   * (ms, ascending; the last count is +Inf), and the sum. Absent: no histogram.
   */
  readonly latency?: { readonly boundsMs: readonly number[]; readonly buckets: readonly number[]; readonly sumMs: number };
  /** True while the engine skips the zone (e.g. after repeated errors). */
  readonly suspended: boolean;
}

export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
}

export interface Readiness {
  /** Every configured SMTP listener is bound. */
  readonly listeners: boolean;
  /** A probe write to the spool directory succeeded. */
  readonly spoolWritable: boolean;
}

/** The state shared by several instances (config [cluster]). */
export interface ClusterStatus {
  /** false: one instance on its own, every counter in this process. */
  readonly shared: boolean;
  readonly redis?: RedisStatus;
}

export interface DashboardSources {
  /** Names this process in a cluster (config cluster.instance, else the host name). */
  readonly instance: string;
  readonly version: string;
  /** Epoch ms when the process started. */
  readonly startedAt: number;
  queue(): MaybePromise<QueueStats>;
  lastReload(): MaybePromise<ReloadSummary>;
  dnsbl(): MaybePromise<readonly ZoneStats[]>;
  cache(): MaybePromise<CacheStats>;
  ready(): MaybePromise<Readiness>;
  /** Shared state (Redis); absent means a single instance. */
  cluster?(): MaybePromise<ClusterStatus>;
  /** The SMTP listeners' running totals (FrontDoor.counters); absent in tests without a front door. */
  smtp?(): MaybePromise<SmtpTotals>;
  /** The Postfix policy service's running totals (PolicyServer.counters); absent when it is off. */
  policyService?(): MaybePromise<PolicyServiceTotals>;
  /** The DNSBL self-check of our outbound addresses (issue 19); absent in tests without one. */
  selfCheck?(): MaybePromise<SelfCheckView>;
  /** The milter's running totals (MilterServer.counters); absent when it is off. */
  milter?(): MaybePromise<MilterTotals>;
  /** Live recipient verification and what the backend refused after we accepted (issue 16); absent in tests without one. */
  verification?(): MaybePromise<VerificationStats>;
  /** Account anomaly detection ([accounts]); absent when it is off. */
  accounts?(): MaybePromise<AccountsStatus>;
}

/** Policy service answers by action kind (dunno, ok, reject, defer, defer_if_permit, prepend), connections closed for bad input, requests past their time budget. */
export interface PolicyServiceTotals {
  readonly answers: Readonly<Record<string, number>>;
  readonly badInput: number;
  readonly timeouts: number;
}

/** Milter replies by kind (continue, accept, reject, tempfail, addheader), connections closed for bad input, for time (a stalled packet, our budget). */
export interface MilterTotals {
  readonly replies: Readonly<Record<string, number>>;
  readonly badInput: number;
  readonly timeouts: number;
}

/** Running totals of recipient verification (config [recipient_verification]) since start. */
export interface VerificationStats {
  readonly enabled: boolean;
  /** Probes sent to next hops, by answer. */
  readonly probes: number;
  readonly accepted: number;
  readonly refused: number;
  readonly temporary: number;
  /** RCPTs answered from the cache, or by joining a probe in flight. */
  readonly cacheHits: number;
  readonly shared: number;
  /** Clients told 450 because the time budget ran out. */
  readonly timedOut: number;
  /** Answers in the cache now. */
  readonly cached: number;
  /** Recipients the backend refused (5xx) after we had verified and accepted them from an untrusted client. */
  readonly refusedAfterAccept: number;
  /** Failed recipients that got no DSN (dsn_after_accept, or an unknown local sender). */
  readonly dsnSuppressed: number;
}

/** Running totals since start, copied into counters at scrape time. */
export interface SmtpTotals {
  readonly connectionsOpened: number;
  readonly connectionsRefused: number;
  readonly closedWithTls: number;
  readonly closedWithoutTls: number;
  readonly bytesReceived: number;
}

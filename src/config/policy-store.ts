// The PolicyStore holds the current PolicySnapshot and replaces it atomically.
//
// Contract for callers:
// - Take `store.current()` ONCE when a connection opens and evaluate that whole
//   session against that object. A reload swaps the snapshot for connections
//   opened afterwards; sessions in flight never see a half-applied policy.
// - `reload(reason)` parses and validates config.toml and every policy file
//   first. Any problem: nothing changes, each problem is logged as
//   `file:line: problem`, and `lastReload` records the failure for the
//   dashboard. Reloads run one at a time; requests arriving during a reload
//   are merged into one more reload after it (so a later edit is never missed).
// - `watch()` reloads after a change to any policy file or config.toml
//   (debounced); `handleSighup()` is what the composition root binds to SIGHUP.
// - What of config.toml a reload applies is in reload-keys.ts: a successful
//   reload that changes a restart-only key (listeners, data_dir...) still swaps
//   the snapshot, and names each such key in `restartNeeded` and in the log
//   ("listeners[0].address changed: needs a restart"). log_level is applied
//   here, to the store's logger and every child of it.
// - The reload guard (options.guard, [reload] guard in the candidate's
//   config.toml): a valid candidate is first replayed against recent sessions
//   (src/journal); one that would newly let an unauthenticated, untrusted
//   client relay is refused like an invalid edit (logged with examples, on the
//   dashboard, `relayguard check` says the same) and the running policy stays.
//   The guard failing (journal unreadable) does not block the reload: logged.
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setLogLevel, type Logger } from '../log/logger.ts';
import { restartNeeded } from './reload-keys.ts';
import { ConfigError, formatProblem, type FileProblem } from './errors.ts';
import { createSnapshot, formatSummary, loadPolicy, type FileSummary, type PolicyLoad, type PolicyReader } from './load-policy.ts';
import { POLICY_FILES, policyFileNames, type PolicyFileRegistry } from './policy-files.ts';
import type { PolicySnapshot } from './snapshot.ts';
import { debounce, type Debouncer } from './debounce.ts';
import { createDirectoryWatcher, type DirectoryWatcher } from './directory-watcher.ts';

export interface ReloadResult {
  readonly at: Date;
  readonly reason: string;
  readonly ok: boolean;
  /** Every problem as `file:line: problem`; empty when ok. */
  readonly errors: readonly string[];
  readonly problems: readonly FileProblem[];
  /** The generation in effect after this attempt (unchanged when it failed). */
  readonly generation: number;
  readonly durationMs: number;
  /**
   * Changes to config.toml this reload could not apply, one per key path, as
   * "listeners[0].address changed: needs a restart"; they take effect at the
   * next restart. Empty when nothing of the kind changed (and on failure).
   */
  readonly restartNeeded: readonly string[];
  /** What the reload guard found replaying recent sessions under the candidate (absent: not run). */
  readonly guard?: GuardReport;
}

/** The reload guard's replay of recent sessions under a candidate policy. */
export interface GuardReport {
  /** The candidate newly opens the relay: the reload was refused. */
  readonly refused: boolean;
  readonly sessions: number;
  readonly windowMs: number;
  readonly durationMs: number;
  /** Recipients an unauthenticated client would newly be allowed to relay to. */
  readonly openings: number;
  /** Relay openings, one line each (at most a few). */
  readonly examples: readonly string[];
  /** Commands decided differently in all. */
  readonly changes: number;
  /** Every change group, "newly refused rcpt dnsbl dnsbl.listed: 3", most first, each with up to three example lines. */
  readonly groups: ReadonlyArray<{ readonly title: string; readonly count: number; readonly examples: readonly string[] }>;
  /** Facts the journal had no answer for (counted as not listed / not exceeded), one line each. */
  readonly unknown: readonly string[];
  /** Worker threads the replay ran on (0: this thread; serve runs it on one, off the SMTP event loop). */
  readonly workers?: number;
}

/** Replays recent sessions under `candidate` (src/journal wires it in main.ts). */
export type ReloadGuard = (candidate: PolicySnapshot, running: PolicySnapshot) => Promise<GuardReport>;

export type SwapListener = (next: PolicySnapshot, previous: PolicySnapshot) => void;

export interface PolicyStoreOptions {
  readonly configFile: string;
  readonly logger: Logger;
  readonly now?: () => Date;
  /** Quiet time after the last file change before reloading. Default 200 ms. */
  readonly debounceMs?: number;
  readonly registry?: PolicyFileRegistry;
  readonly reader?: PolicyReader;
  /** Replays recent sessions under a candidate before it takes effect (when its [reload] guard is on). */
  readonly guard?: ReloadGuard;
}

/** Loads the first snapshot (generation 1); throws a ConfigError listing every problem. */
export async function openPolicyStore(options: PolicyStoreOptions): Promise<PolicyStore> {
  const started = performance.now();
  const load = await loadPolicy(options.configFile, options);
  if (!load.ok) throw new ConfigError(load.problems);
  const now = options.now ?? (() => new Date());
  const at = now();
  const first: ReloadResult = {
    at,
    reason: 'start',
    ok: true,
    errors: [],
    problems: [],
    generation: 1,
    durationMs: performance.now() - started,
    restartNeeded: [],
  };
  options.logger.info({ event: 'policy.loaded', generation: 1 }, `policy loaded: ${formatSummary(load.files)}`);
  return new PolicyStore(options, createSnapshot(load, 1, at), load.files, first);
}

export class PolicyStore {
  private snapshot: PolicySnapshot;
  private summary: readonly FileSummary[];
  private last: ReloadResult;
  private readonly listeners = new Set<SwapListener>();
  private running: Promise<ReloadResult> | undefined;
  private queued: Promise<ReloadResult> | undefined;
  private queuedReasons: string[] = [];
  private watcher: DirectoryWatcher | undefined;
  private debouncer: Debouncer | undefined;
  private changed = new Set<string>();
  private readonly logger: Logger;
  private readonly now: () => Date;
  private readonly registry: PolicyFileRegistry;

  constructor(private readonly options: PolicyStoreOptions, snapshot: PolicySnapshot, summary: readonly FileSummary[], first: ReloadResult) {
    this.snapshot = snapshot;
    this.summary = summary;
    this.last = first;
    this.logger = options.logger;
    this.now = options.now ?? (() => new Date());
    this.registry = options.registry ?? POLICY_FILES;
  }

  /** The snapshot new connections must use; keep the returned object for the whole connection. */
  current(): PolicySnapshot {
    return this.snapshot;
  }

  /** The outcome of the latest load or reload attempt (the dashboard's "last reload"). */
  get lastReload(): ReloadResult {
    return this.last;
  }

  /** Per-file counts of the current snapshot. */
  get files(): readonly FileSummary[] {
    return this.summary;
  }

  /** Called after each successful swap; returns the unsubscribe function. */
  onSwap(listener: SwapListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Never rejects: a failure is a ReloadResult with ok false. */
  reload(reason: string): Promise<ReloadResult> {
    if (this.queued) {
      this.queuedReasons.push(reason);
      return this.queued;
    }
    if (this.running) {
      this.queuedReasons = [reason];
      this.queued = this.running.then(() => {
        const reasons = this.queuedReasons;
        this.queued = undefined;
        this.queuedReasons = [];
        return this.start(reasons.join('; '));
      });
      return this.queued;
    }
    return this.start(reason);
  }

  /** Bind to SIGHUP in the composition root: process.on('SIGHUP', () => store.handleSighup()). */
  handleSighup(): void {
    void this.reload('SIGHUP');
  }

  /** Reloads on changes to config.toml or any policy file until close(). Idempotent. */
  watch(): void {
    if (this.watcher) return;
    this.debouncer = debounce(() => {
      const names = [...this.changed].sort().join(', ');
      this.changed.clear();
      void this.reload(`changed: ${names}`);
    }, this.options.debounceMs ?? 200);
    this.watcher = createDirectoryWatcher(
      (name) => {
        this.changed.add(name);
        this.debouncer?.trigger();
      },
      (dir, error) => {
        this.logger.warn({ event: 'policy.watch_error', dir, err: error.message }, `stopped watching ${dir}: ${error.message}; send SIGHUP to reload by hand`);
      },
    );
    this.updateWatchTargets();
  }

  /** Stops watching; a reload in progress still completes. */
  close(): void {
    this.debouncer?.cancel();
    this.watcher?.close();
    this.watcher = undefined;
    this.debouncer = undefined;
  }

  private updateWatchTargets(): void {
    const configFile = path.resolve(this.options.configFile);
    this.watcher?.update([
      { dir: path.dirname(configFile), names: new Set([path.basename(configFile)]) },
      { dir: this.snapshot.config.policiesDir, names: new Set(policyFileNames(this.registry)) },
    ]);
  }

  private start(reason: string): Promise<ReloadResult> {
    const run = this.attempt(reason).finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }

  private async attempt(reason: string): Promise<ReloadResult> {
    const started = performance.now();
    const at = this.now();
    let load: PolicyLoad;
    try {
      load = await loadPolicy(this.options.configFile, { registry: this.registry, reader: this.options.reader });
    } catch (error) {
      load = { ok: false, problems: [{ file: this.options.configFile, line: 0, message: `reload failed unexpectedly: ${(error as Error).message}` }] };
    }
    const durationMs = performance.now() - started;
    if (!load.ok) {
      const errors = load.problems.map(formatProblem);
      for (const error of errors) this.logger.error({ event: 'policy.problem', reason }, error);
      this.logger.error(
        { event: 'policy.reload_failed', reason, generation: this.snapshot.generation, problems: errors.length },
        `policy reload refused (${errors.length} problem${errors.length === 1 ? '' : 's'}); generation ${this.snapshot.generation} keeps running`,
      );
      this.last = { at, reason, ok: false, errors, problems: load.problems, generation: this.snapshot.generation, durationMs, restartNeeded: [] };
      return this.last;
    }
    const previous = this.snapshot;
    const candidate = createSnapshot(load, previous.generation + 1, at);
    let guard: GuardReport | undefined;
    if (this.options.guard && candidate.config.reload.guard) {
      try {
        guard = await this.options.guard(candidate, previous);
      } catch (error) {
        this.logger.warn({ event: 'policy.guard_failed', reason, err: (error as Error).message }, `reload guard could not replay the journal (${(error as Error).message}); reloading unguarded`);
      }
    }
    if (guard?.refused) {
      const errors = [
        `reload guard: this edit would newly allow ${guard.openings} recipient(s) to be relayed for unauthenticated clients that were not trusted (replayed ${guard.sessions} recent session(s)); generation ${previous.generation} keeps running. Set [reload] guard = false in the same edit to apply it anyway.`,
        ...guard.examples.map((line) => `relay opening: ${line}`),
      ];
      for (const line of guard.examples) this.logger.error({ event: 'policy.guard_example', reason }, `relay opening: ${line}`);
      this.logger.error(
        { event: 'policy.reload_guarded', reason, generation: previous.generation, openings: guard.openings, sessions: guard.sessions },
        `policy reload refused by the reload guard: it would open the relay (${guard.openings} recipient(s) in ${guard.sessions} replayed session(s)); generation ${previous.generation} keeps running`,
      );
      const problems = errors.map((message) => ({ file: candidate.config.policiesDir, line: 0, message }));
      this.last = { at, reason, ok: false, errors, problems, generation: previous.generation, durationMs: performance.now() - started, restartNeeded: [], guard };
      return this.last;
    }
    this.snapshot = candidate;
    this.summary = load.files;
    const restart = restartNeeded(previous.config, this.snapshot.config);
    if (this.snapshot.config.log_level !== previous.config.log_level) setLogLevel(this.logger, this.snapshot.config.log_level);
    this.last = { at, reason, ok: true, errors: [], problems: [], generation: this.snapshot.generation, durationMs, restartNeeded: restart, ...(guard ? { guard } : {}) };
    this.logger.info(
      { event: 'policy.reloaded', reason, generation: this.snapshot.generation, durationMs: Math.round(durationMs) },
      `policy reloaded (generation ${this.snapshot.generation}): ${formatSummary(load.files)}`,
    );
    for (const line of restart) this.logger.warn({ event: 'policy.restart_needed', reason, generation: this.snapshot.generation }, line);
    if (this.watcher) this.updateWatchTargets();
    for (const listener of this.listeners) {
      try {
        listener(this.snapshot, previous);
      } catch (error) {
        this.logger.error({ event: 'policy.swap_listener_failed', err: (error as Error).message }, 'a policy swap listener threw');
      }
    }
    return this.last;
  }
}

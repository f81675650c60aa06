// The reload guard: before a valid candidate policy takes effect, the
// journal's sessions of the last [reload] guard_window (at most
// guard_max_sessions, the newest first) are replayed under it; a candidate
// that newly lets an unauthenticated client relay where it was not let before
// is refused (config/policy-store.ts). The same report feeds `relayguard
// check` and the dashboard's reload panel.
import type { GuardReport, ReloadGuard } from '../config/policy-store.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';
import { replayJournal, type ReplayRun } from './replay-run.ts';
import { formatExample, formatOpenings } from './replay-format.ts';

const TITLES = { newly_refused: 'newly refused', newly_accepted: 'newly accepted (was refused by)', refused_otherwise: 'refused otherwise' } as const;

export function guardReport(run: ReplayRun, windowMs: number): GuardReport {
  const s = run.summary;
  const unknown = [
    ...Object.entries(s.unknown.dnsblZones).map(([zone, n]) => `dnsbl zone ${zone}: no recorded answer in ${n} session(s), counted as not listed`),
    ...(s.unknown.rateWindows > 0 ? [`${s.unknown.rateWindows} rate window(s) without a recorded count, counted as not exceeded`] : []),
    ...(s.unknown.senderDomain > 0 ? [`${s.unknown.senderDomain} sender-domain check(s) without a recorded answer, not applied`] : []),
    ...(s.unknown.recipientVerification > 0 ? [`${s.unknown.recipientVerification} session(s) with recipients the candidate would verify live without a recorded answer, not applied`] : []),
  ];
  return {
    refused: s.relayOpenings.count > 0,
    sessions: s.sessions,
    windowMs,
    durationMs: Math.round(run.durationMs),
    openings: s.relayOpenings.count,
    examples: formatOpenings(s).slice(0, 5),
    changes: s.changes,
    groups: [...s.groups]
      .sort((a, b) => b.count - a.count)
      .map((g) => ({ title: `${TITLES[g.kind]} ${g.stage} ${g.rule} ${g.reason}`, count: g.count, examples: g.examples.map(formatExample) })),
    unknown,
    workers: run.workers,
  };
}

export interface ReloadGuardOptions {
  readonly journalDir: string;
  /** Writes what the journal has buffered, so the sessions of the last second count too. */
  readonly flush?: () => Promise<void>;
  readonly now?: () => number;
  /** Worker threads for the replay (default 1: off the relay's event loop; 0: in this thread). */
  readonly jobs?: number;
}

/**
 * The replay of a candidate over its own [reload] window, as check and the
 * store run it. `jobs` 1 runs it in a worker thread (serve: a reload never
 * stalls the relay's event loop, whatever the window holds); 0 in this thread.
 */
export async function replayForGuard(candidate: PolicySnapshot, journalDir: string, now: number, jobs = 0): Promise<GuardReport> {
  const windowMs = candidate.config.reload.guard_window;
  const run = await replayJournal({ journalDir, candidate, range: { from: now - windowMs }, maxSessions: candidate.config.reload.guard_max_sessions, jobs });
  return guardReport(run, windowMs);
}

export function createReloadGuard(options: ReloadGuardOptions): ReloadGuard {
  return async (candidate) => {
    await options.flush?.();
    return replayForGuard(candidate, options.journalDir, (options.now ?? Date.now)(), options.jobs ?? 1);
  };
}

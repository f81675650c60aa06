// `relayguard replay --policies DIR [--config FILE] [--since 24h | --from T --to T] [--jobs N] [--json]`
// Re-runs the sessions of the decision journal (data_dir/journal) through
// the session driver under the policy files in DIR (loaded as a reload would
// load them, with config.toml's other settings) with the recorded facts only,
// and prints what would be decided differently. Exit 0 no change, 1 changes,
// 2 usage (or the candidate does not load), 3 a relay opening. The segments
// are replayed on --jobs worker threads (default: one per CPU; 0: none), the
// result the same as in one thread (journal/replay-pool.ts).
import { parseArgs } from 'node:util';
import { EXIT_OK, EXIT_USAGE, type CliIo } from './io.ts';
import { usageLine } from './help.ts';
import { createSnapshot, loadPolicy } from '../config/load-policy.ts';
import { adminProblem } from '../config/errors.ts';
import { parseDuration } from '../config/units.ts';
import { journalDirOf } from '../journal/journal-writer.ts';
import { replayExitCode, replayJournal } from '../journal/replay-run.ts';
import { defaultReplayJobs } from '../journal/replay-pool.ts';
import { formatReplay } from '../journal/replay-format.ts';

export const EXIT_REPLAY_CHANGES = 1;
export const EXIT_RELAY_OPENING = 3;

function parseTime(text: string): number | undefined {
  const ms = /^\d{10,13}$/.test(text) ? Number(text) * (text.length <= 10 ? 1000 : 1) : Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

export async function runReplay(argv: string[], io: CliIo, now: () => number = Date.now): Promise<number> {
  const usage = usageLine('replay');
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        policies: { type: 'string' },
        config: { type: 'string', short: 'c', default: 'config.toml' },
        since: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        json: { type: 'boolean', default: false },
        jobs: { type: 'string', short: 'j' },
      },
    }));
  } catch (error) {
    io.stderr.write(`replay: ${(error as Error).message}\n${usage}\n`);
    return EXIT_USAGE;
  }
  if (values.policies === undefined) {
    io.stderr.write(`replay: --policies DIR is required (the candidate policy files)\n${usage}\n`);
    return EXIT_USAGE;
  }
  if (values.since !== undefined && (values.from !== undefined || values.to !== undefined)) {
    io.stderr.write(`replay: --since and --from/--to exclude each other\n${usage}\n`);
    return EXIT_USAGE;
  }
  let jobs = defaultReplayJobs();
  if (values.jobs !== undefined) {
    jobs = /^\d{1,4}$/.test(values.jobs) ? Number(values.jobs) : NaN;
    if (!Number.isInteger(jobs) || jobs > 1024) {
      io.stderr.write(`replay: --jobs ${values.jobs}: write a number of worker threads (0: replay in the main thread)\n${usage}\n`);
      return EXIT_USAGE;
    }
  }
  let from: number | undefined;
  let to: number | undefined;
  if (values.since !== undefined) {
    const ms = parseDuration(values.since);
    if (ms === null) {
      io.stderr.write(`replay: --since ${values.since}: write a duration such as 24h or 7d\n`);
      return EXIT_USAGE;
    }
    from = now() - ms;
  }
  for (const [name, text] of [['from', values.from], ['to', values.to]] as const) {
    if (text === undefined) continue;
    const ms = parseTime(text);
    if (ms === undefined) {
      io.stderr.write(`replay: --${name} ${text}: write a time such as 2026-12-06T10:00:00Z\n`);
      return EXIT_USAGE;
    }
    if (name === 'from') from = ms;
    else to = ms;
  }

  const load = await loadPolicy(values.config, { policiesDir: values.policies });
  if (!load.ok) {
    for (const problem of load.problems) io.stderr.write(`${adminProblem(problem)}\n`);
    io.stderr.write(`replay: the candidate policy does not load (${load.problems.length} problem(s)); nothing replayed\n`);
    return EXIT_USAGE;
  }
  const candidate = createSnapshot(load, 0, new Date(now()));
  const journalDir = journalDirOf(candidate.config.dataDir);
  const run = await replayJournal({ journalDir, candidate, jobs, range: { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) } });
  const code = replayExitCode(run.summary);
  if (values.json) {
    io.stdout.write(
      `${JSON.stringify(
        {
          policies: candidate.config.policiesDir,
          journal: journalDir,
          from: from ?? null,
          to: to ?? null,
          read: run.read,
          ...run.summary,
          durationMs: Math.round(run.durationMs),
          workers: run.workers,
          exit: code,
        },
        null,
        2,
      )}\n`,
    );
  } else {
    const range = `${from !== undefined ? new Date(from).toISOString() : 'the start'} to ${to !== undefined ? new Date(to).toISOString() : 'now'}`;
    io.stdout.write(formatReplay(run.summary, run.read, `replay of ${journalDir} (${range}) under ${candidate.config.policiesDir}`));
  }
  return code === 0 ? EXIT_OK : code;
}

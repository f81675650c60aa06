// `relayguard explain --replay ID [--policies DIR] [--config FILE] [--json]`:
// one session of the decision journal walked again through the session
// driver, with its recorded facts, under the running policy files (those of
// config.toml) or a candidate directory; prints each command with what was
// decided then and what is decided now. Exit 0 when every command is decided
// as it was, 1 when one differs or on a user error (the session is not in
// the journal, the policy does not load), 2 usage.
import type { CliIo } from './io.ts';
import { EXIT_OK, EXIT_USER_ERROR } from './io.ts';
import { createSnapshot, loadPolicy } from '../config/load-policy.ts';
import { adminProblem } from '../config/errors.ts';
import { journalDirOf } from '../journal/journal-writer.ts';
import { emptyReadStats, readJournal } from '../journal/journal-segment.ts';
import type { JournalRecord } from '../journal/journal-record.ts';
import { Replayer, describeDecision, describeRecorded } from '../journal/replay.ts';

/** Terminal-safe: control characters a client sent are shown escaped. */
function shown(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export async function runExplainReplay(id: string, options: { config: string; policies?: string | undefined; json: boolean }, io: CliIo): Promise<number> {
  const load = await loadPolicy(options.config, options.policies !== undefined ? { policiesDir: options.policies } : {});
  if (!load.ok) {
    for (const problem of load.problems) io.stderr.write(`${adminProblem(problem)}\n`);
    return EXIT_USER_ERROR;
  }
  const snapshot = createSnapshot(load, 0, new Date());
  const dir = journalDirOf(snapshot.config.dataDir);
  let found: JournalRecord | undefined;
  const stats = emptyReadStats();
  await readJournal(dir, { newestFirst: true }, stats, (record) => {
    if (record.id !== id) return true;
    found = record;
    return false;
  });
  if (!found) {
    io.stderr.write(`explain: session ${id} is not in the journal ${dir} (${stats.records} session(s) read${stats.corruptRecords > 0 ? `, ${stats.corruptRecords} corrupt skipped` : ''})\n`);
    return EXIT_USER_ERROR;
  }
  const replay = await new Replayer(snapshot).replay(found);
  const rows = replay.calls.map(({ call, recorded, replayed }) => {
    const before = recorded.at(-1);
    const after = replayed?.at(-1);
    const same = after !== undefined && before !== undefined && after.verdict === before[0] && after.rule === before[2] && after.reason === before[3];
    return { call: call.c, input: call.i ?? '', recorded: describeRecorded(before), now: describeDecision(after), same, decisions: replayed?.map(describeDecision) ?? [] };
  });
  const changed = rows.some((r) => !r.same);
  if (options.json) {
    io.stdout.write(`${JSON.stringify({ session: found.id, at: found.t, client: found.ip, listener: found.l, policies: snapshot.config.policiesDir, calls: rows, unknown: replay.unknown, changed }, null, 2)}\n`);
  } else {
    const header = ['COMMAND', 'INPUT', 'RECORDED', 'NOW', ''];
    const cells = rows.map((r) => [r.call, shown(r.input) || '-', r.recorded, r.now, r.same ? '' : 'CHANGED']);
    const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
    const line = (c: readonly string[]): string => c.map((v, i) => v.padEnd(widths[i] as number)).join('  ').trimEnd();
    const out = [
      `session ${found.id} ${new Date(found.t).toISOString()} client ${found.ip}${found.px ? ` (PROXY peer ${found.px})` : ''} on ${found.l}, recorded under generation ${found.g}; now under ${snapshot.config.policiesDir}`,
      line(header),
      ...cells.map(line),
      ...replay.unknown.map((u) => `note: not in the journal (never guessed): ${u}`),
      changed ? 'some commands would be decided differently' : 'every command is decided as it was',
    ];
    io.stdout.write(`${out.join('\n')}\n`);
  }
  return changed ? EXIT_USER_ERROR : EXIT_OK;
}

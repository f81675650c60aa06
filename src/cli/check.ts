// `relayguard check [--config FILE]`: validates config.toml and every policy
// file exactly as a reload would (same loadPolicy). Exit 0 with a one-line
// summary; exit 1 printing every problem as `file:line: problem`; 2 on usage.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { EXIT_OK, EXIT_USAGE, EXIT_USER_ERROR, type CliIo } from './io.ts';
import { adminProblem, type FileProblem } from '../config/errors.ts';
import { createSnapshot, formatSummary, loadPolicy } from '../config/load-policy.ts';
import { journalDirOf } from '../journal/journal-writer.ts';
import { replayForGuard } from '../journal/reload-guard.ts';
import { commandHelp, usageLine } from './help.ts';
import { secretFileWarnings } from './secret-modes.ts';
import { deprecatedTlsWarnings } from '../config/delivery-tls.ts';
import { selfCheckWarning } from '../facts/dnsbl/self-check.ts';

const USAGE = usageLine('check');

function parseArgs(argv: string[]): { config?: string } | { error: string } | { help: true } {
  let config: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-h' || arg === '--help') return { help: true };
    if (arg === '--config' || arg === '-c') {
      const value = argv[++i];
      if (!value) return { error: `${arg} needs a file` };
      config = value;
    } else if (arg.startsWith('--config=')) {
      config = arg.slice('--config='.length);
      if (!config) return { error: '--config needs a file' };
    } else {
      return { error: `unexpected argument "${arg}"` };
    }
  }
  return config === undefined ? {} : { config };
}

/** Paths under the current directory print relative (shorter); others stay absolute. */
function display(problem: FileProblem, cwd: string): FileProblem {
  const relative = path.relative(cwd, path.resolve(problem.file));
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? { ...problem, file: relative } : problem;
}

export async function runCheck(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv);
  if ('help' in args) {
    io.stdout.write(commandHelp('check'));
    return EXIT_OK;
  }
  if ('error' in args) {
    io.stderr.write(`${args.error}\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  const cwd = process.cwd();
  let configFile = args.config;
  if (configFile === undefined) {
    if (!existsSync(path.join(cwd, 'config.toml'))) {
      io.stderr.write(`no config.toml in ${cwd}; pass --config FILE\n${USAGE}\n`);
      return EXIT_USAGE;
    }
    configFile = 'config.toml';
  }
  const load = await loadPolicy(configFile);
  if (!load.ok) {
    for (const problem of load.problems) io.stderr.write(`${adminProblem(display(problem, cwd))}\n`);
    const count = load.problems.length;
    io.stderr.write(`check failed: ${count} problem${count === 1 ? '' : 's'}; a reload with these files would be refused\n`);
    return EXIT_USER_ERROR;
  }
  // Warnings, not problems: the exit status stays 0.
  for (const warning of secretFileWarnings(load.config)) io.stderr.write(`${warning}\n`);
  const text = await readFile(configFile, 'utf8').catch(() => '');
  for (const warning of deprecatedTlsWarnings(display({ file: configFile, line: 0, message: '' }, cwd).file, text)) io.stderr.write(`${warning}\n`);
  const selfCheck = selfCheckWarning(load.config.self_check, load.parts.dnsbl);
  if (selfCheck) io.stderr.write(`${display({ file: configFile, line: 0, message: '' }, cwd).file}: warning: ${selfCheck}\n`);
  io.stdout.write(`ok ${configFile}: ${formatSummary(load.files)}\n`);
  // The reload guard, as serve would run it on these files (needs the journal in data_dir).
  if (load.config.reload.guard && load.config.journal.enabled) {
    const guard = await replayForGuard(createSnapshot(load, 0, new Date()), journalDirOf(load.config.dataDir), Date.now());
    if (guard.refused) {
      io.stderr.write(`reload guard: these files would newly allow ${guard.openings} recipient(s) to be relayed for unauthenticated clients that were not trusted (replayed ${guard.sessions} recent session(s)):\n`);
      for (const line of guard.examples) io.stderr.write(`  relay opening: ${line}\n`);
      io.stderr.write('check failed: a reload with these files would be refused by the reload guard ([reload] guard = false in config.toml lets it through)\n');
      return EXIT_USER_ERROR;
    }
    if (guard.changes > 0) {
      io.stdout.write(`reload guard: ${guard.changes} command(s) of ${guard.sessions} recent session(s) would be decided differently; relayguard replay --policies ${load.config.policiesDir} lists them\n`);
    }
  }
  return EXIT_OK;
}

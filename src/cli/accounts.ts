// `relayguard accounts list [--json] | release USER [--release-held] | lock USER [--config FILE]`
// The suspects of account anomaly detection (src/accounts). Every request goes
// to the running serve through the control directory <spool>/control (as
// `relayguard queue` changes do): the detector's memory is the truth while it
// runs. With no serve running, list reads data_dir's state file (read-only:
// nothing is renamed or written), and release and lock refuse: the state file
// belongs to serve, and a change written behind its back could be lost to a
// serve starting at that moment; the held messages of an episode are released
// by serve's queue runner.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadCommandConfig } from './command-config.ts';
import type { Config } from '../config/schema.ts';
import { silentLogger } from '../log/logger.ts';
import type { SuspectAccount } from '../accounts/account-control.ts';
import type { SuspectRecord } from '../accounts/account-store.ts';
import { sendControlRequest, type AccountsRequest, type ControlReply } from '../spool/control.ts';
import { liveOwner } from '../spool/spool-lock.ts';
import { openSpool, quarantineDirOf, queueDirOf, spoolDirOf } from '../spool/spool.ts';
import { EXIT_OK, EXIT_USAGE, EXIT_USER_ERROR, type CliIo } from './io.ts';
import { usageLine } from './help.ts';

const USAGE = usageLine('accounts');

interface Args {
  readonly command: 'list' | 'release' | 'lock';
  readonly user?: string;
  readonly config?: string;
  readonly json: boolean;
  readonly releaseHeld: boolean;
}

function parseArgs(argv: string[]): Args | { error: string } {
  const rest: string[] = [];
  let config: string | undefined;
  let json = false;
  let releaseHeld = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const valued = /^--config(?:=(.*))?$/s.exec(arg);
    if (arg === '-c' || valued) {
      const value = valued?.[1] ?? argv[++i];
      if (value === undefined || value === '') return { error: '--config needs a value' };
      config = value;
    } else if (arg === '--json') {
      json = true;
    } else if (arg === '--release-held') {
      releaseHeld = true;
    } else if (arg.startsWith('-')) {
      return { error: `unknown option ${arg}` };
    } else {
      rest.push(arg);
    }
  }
  const [command, user, extra] = rest;
  if (!command) return { error: 'a subcommand is needed' };
  if (command !== 'list' && command !== 'release' && command !== 'lock') return { error: `unknown subcommand ${command}` };
  if (extra !== undefined) return { error: `unexpected argument ${extra}` };
  if (command === 'list' && user !== undefined) return { error: 'accounts list takes no USER' };
  if (command !== 'list' && (user === undefined || user.trim() === '')) return { error: `accounts ${command} needs a USER` };
  if (json && command !== 'list') return { error: '--json goes with accounts list' };
  if (releaseHeld && command !== 'release') return { error: '--release-held goes with accounts release' };
  return { command, ...(user !== undefined ? { user } : {}), ...(config ? { config } : {}), json, releaseHeld };
}

/** Who asks, as the detector logs it: "cli", plus the login behind sudo or the user. */
export function requester(env: NodeJS.ProcessEnv): string {
  const who = env.SUDO_USER || env.USER;
  return who ? `cli:${who}` : 'cli';
}

/** Text from the state (a sender address is the client's) made safe for a terminal. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function suspectLines(s: SuspectAccount): string {
  const lines = [`${printable(s.user)}  ${s.state.toUpperCase()} since ${s.since}  ${s.heldMessages} held message(s)`];
  for (const t of s.triggers) {
    lines.push(`    ${printable(t.trigger)} (${t.action}) at ${t.at}: ${printable(t.reason)}`);
    const evidence = Object.entries(t.evidence).map(([k, v]) => `${printable(k)}=${printable(String(v))}`);
    if (evidence.length > 0) lines.push(`        ${evidence.join(' ')}`);
  }
  return lines.join('\n');
}

function printList(suspects: readonly SuspectAccount[], io: CliIo, json: boolean, note?: string): number {
  for (const s of suspects) io.stdout.write(json ? `${JSON.stringify(s)}\n` : `${suspectLines(s)}\n`);
  if (!json) io.stdout.write(`${suspects.length === 0 ? 'No suspect account.' : `-- ${suspects.length} suspect account(s)`}${note ? ` (${note})` : ''}\n`);
  return EXIT_OK;
}

function isSuspectList(value: unknown): value is SuspectAccount[] {
  return Array.isArray(value) && value.every((s) => typeof s === 'object' && s !== null && typeof (s as { user?: unknown }).user === 'string' && Array.isArray((s as { triggers?: unknown }).triggers));
}

/** No serve runs: the suspects as the state file has them, read-only. */
async function listFromFile(config: Config, io: CliIo, json: boolean): Promise<number> {
  const file = path.resolve(config.dataDir, config.accounts.state_file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return printList([], io, json, `no relay running; no ${file}`);
  }
  let records: SuspectRecord[];
  try {
    const parsed = JSON.parse(text) as { suspects?: unknown };
    if (!isSuspectList(parsed.suspects)) throw new Error('no suspects list');
    records = parsed.suspects as unknown as SuspectRecord[];
  } catch (error) {
    io.stderr.write(`${file}: unreadable account state (${(error as Error).message}); serve keeps such a file aside at start\n`);
    return EXIT_USER_ERROR;
  }
  // Held messages: the episode's ids still held in the spool (as serve counts them).
  const spoolDir = spoolDirOf(config);
  const spool = existsSync(queueDirOf(spoolDir)) ? await openSpool({ dir: spoolDir, quarantineDir: quarantineDirOf(config), logger: silentLogger(), exclusive: false }) : undefined;
  try {
    const suspects = records
      .map((r): SuspectAccount => ({
        user: r.user,
        state: r.state,
        since: r.since,
        triggers: r.triggers,
        heldMessages: (Array.isArray(r.heldIds) ? r.heldIds : []).filter((id) => spool?.isHeld(id) === true).length,
      }))
      .sort((a, b) => (lastAt(b) < lastAt(a) ? -1 : lastAt(b) > lastAt(a) ? 1 : 0));
    return printList(suspects, io, json, `no relay running: from ${file}`);
  } finally {
    await spool?.close();
  }
}

function lastAt(s: SuspectAccount): string {
  return s.triggers.at(-1)?.at ?? s.since;
}

export async function runAccounts(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv);
  if ('error' in args) {
    io.stderr.write(`${args.error}\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  const config = await loadCommandConfig(args.config, io, USAGE);
  if (config === undefined) return EXIT_USER_ERROR;
  const spoolDir = spoolDirOf(config);
  const running = existsSync(spoolDir) && (await liveOwner(spoolDir)) !== undefined;
  if (!running) {
    if (args.command === 'list') return listFromFile(config, io, args.json);
    io.stderr.write(`accounts ${args.command}: no relay is running (nothing owns ${spoolDir}); nothing was changed. ` +
      `Suspects are changed by the running relay: start relayguard serve and run this again.\n`);
    return EXIT_USER_ERROR;
  }
  const by = requester(io.env);
  const request: AccountsRequest = args.command === 'list'
    ? { op: 'accounts-list' }
    : args.command === 'lock'
      ? { op: 'accounts-lock', user: args.user as string, by }
      : { op: 'accounts-release', user: args.user as string, by, releaseHeld: args.releaseHeld };
  let reply: ControlReply;
  try {
    reply = await sendControlRequest(spoolDir, request);
  } catch (error) {
    io.stderr.write(`accounts ${args.command}: ${(error as Error).message}\n`);
    return EXIT_USER_ERROR;
  }
  if (!reply.ok) {
    io.stderr.write(`${reply.message}\n`);
    return EXIT_USER_ERROR;
  }
  if (args.command === 'list') {
    if (!isSuspectList(reply.data)) {
      io.stderr.write('accounts list: the running relay sent no list of suspects\n');
      return EXIT_USER_ERROR;
    }
    return printList(reply.data, io, args.json);
  }
  io.stdout.write(`${reply.message}\n`);
  return EXIT_OK;
}

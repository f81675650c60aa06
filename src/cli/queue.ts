// `relayguard queue list [--held]|show ID|retry [ID]|delete ID|bounce ID|hold ID|--user U|--sender S [--reason TEXT]|release ID|--user U|--sender S [--config FILE] [--json]`
// Reading (list, show) works on the spool files directly, also while serve
// runs. Changes go to the running server as control requests (it owns the
// spool and must see them); when no server runs, the CLI takes the spool
// itself and makes the change on disk.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadCommandConfig } from './command-config.ts';
import type { Config } from '../config/schema.ts';
import { silentLogger } from '../log/logger.ts';
import { sendControlRequest, type ControlReply, type ControlSelector, type QueueRequest } from '../spool/control.ts';
import { isQueueId } from '../spool/queue-id.ts';
import { liveOwner } from '../spool/spool-lock.ts';
import { listQuarantine, openSpool, quarantineDirOf, queueDirOf, spoolDirOf, type LoadedMessage, type Spool } from '../spool/spool.ts';
import { openRecipients } from '../spool/state-journal.ts';
import { createBouncer, originalHeaders } from '../delivery/bounces.ts';
import { wantsNotice } from '../delivery/dsn-notify.ts';
import { ADMIN_HOLD_REASON, holdReply } from '../delivery/queue-control.ts';
import { holdMark, matchesSelector } from '../delivery/runner-holds.ts';
import { EXIT_OK, EXIT_USAGE, EXIT_USER_ERROR, type CliIo } from './io.ts';
import { usageLine } from './help.ts';

const USAGE = usageLine('queue');

interface Args {
  readonly command: string;
  readonly id?: string;
  readonly user?: string;
  readonly sender?: string;
  readonly reason?: string;
  readonly config?: string;
  readonly json: boolean;
  /** list: only held messages. */
  readonly held: boolean;
  /** list: the quarantine (corrupt spool entries) instead of the queue. */
  readonly quarantined: boolean;
}

const SUBCOMMANDS = ['list', 'show', 'retry', 'delete', 'bounce', 'hold', 'release'];

function parseArgs(argv: string[]): Args | { error: string } {
  const rest: string[] = [];
  let config: string | undefined;
  let json = false;
  let held = false;
  let quarantined = false;
  const values: { user?: string; sender?: string; reason?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const valued = /^--(config|user|sender|reason)(?:=(.*))?$/s.exec(arg);
    if (arg === '-c' || valued) {
      const name = valued ? (valued[1] as 'config' | 'user' | 'sender' | 'reason') : 'config';
      const value = valued?.[2] ?? argv[++i];
      if (value === undefined || (value === '' && name !== 'reason')) return { error: `--${name} needs a value` };
      if (name === 'config') config = value;
      else values[name] = value;
    } else if (arg === '--json') {
      json = true;
    } else if (arg === '--held') {
      held = true;
    } else if (arg === '--quarantined') {
      quarantined = true;
    } else if (arg.startsWith('-')) {
      return { error: `unknown option ${arg}` };
    } else {
      rest.push(arg);
    }
  }
  const [command, id, extra] = rest;
  if (!command) return { error: 'a subcommand is needed' };
  if (extra !== undefined) return { error: `unexpected argument ${extra}` };
  if (!SUBCOMMANDS.includes(command)) return { error: `unknown subcommand ${command}` };
  const selecting = command === 'hold' || command === 'release';
  if (selecting) {
    const chosen = [id, values.user, values.sender].filter((v) => v !== undefined).length;
    if (chosen !== 1) return { error: `queue ${command} needs exactly one of ID, --user USER, --sender ADDRESS` };
  } else if (values.user !== undefined || values.sender !== undefined) {
    return { error: `--user and --sender go with queue hold and queue release` };
  }
  if (values.reason !== undefined && command !== 'hold') return { error: '--reason goes with queue hold' };
  if ((held || quarantined) && command !== 'list') return { error: `--${held ? 'held' : 'quarantined'} goes with queue list` };
  if (held && quarantined) return { error: '--held and --quarantined do not go together' };
  const needsId = command === 'show' || command === 'delete' || command === 'bounce';
  if (needsId && !id) return { error: `queue ${command} needs a queue ID` };
  if (command === 'list' && id) return { error: 'queue list takes no ID' };
  return { command, ...(id ? { id } : {}), ...values, ...(config ? { config } : {}), json, held, quarantined };
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function describe(msg: LoadedMessage): Record<string, unknown> {
  return {
    id: msg.id,
    size: msg.size,
    receivedAt: iso(msg.envelope.receivedAt),
    sender: msg.envelope.sender,
    clientIp: msg.envelope.clientIp,
    attempts: msg.state.attempts,
    nextAttemptAt: openRecipients(msg.state).length > 0 && msg.state.attempts > 0 ? iso(msg.state.nextAttemptAt) : undefined,
    recipients: [...msg.state.recipients].map(([address, rs]) => ({ address, status: rs.status, ...(rs.reply ? { reply: rs.reply } : {}) })),
    ...(msg.state.held ? { held: { at: iso(msg.state.held.at), until: iso(msg.state.held.until), reason: msg.state.held.reason, by: msg.state.held.by } } : {}),
  };
}

function heldLine(msg: LoadedMessage): string {
  const h = msg.state.held;
  return h ? `  HELD since ${iso(h.at)} by ${h.by || 'admin'}, expires ${iso(h.until)}${h.reason ? `: ${h.reason}` : ''}` : '';
}

function listLines(msg: LoadedMessage): string {
  const head = `${msg.id}  ${String(msg.size).padStart(8)}  ${iso(msg.envelope.receivedAt)}  <${msg.envelope.sender}>` +
    (msg.state.attempts > 0 && !msg.state.held ? `  attempts ${msg.state.attempts}, next ${iso(msg.state.nextAttemptAt)}` : '') +
    (msg.envelope.authUser ? `  user ${msg.envelope.authUser}` : '') +
    heldLine(msg);
  const rcpts = [...msg.state.recipients].map(([address, rs]) => `    ${address}  ${rs.status}${rs.reply ? `  (${rs.reply})` : ''}`);
  return [head, ...rcpts].join('\n');
}

async function list(spool: Spool, io: CliIo, json: boolean, heldOnly: boolean): Promise<number> {
  // The spool's index (files in queue/ and live segment records), oldest first.
  let count = 0;
  for (const [id] of spool.entries()) {
    let msg: LoadedMessage | undefined;
    try {
      msg = await spool.load(id);
    } catch (error) {
      // Never invisible: a message that cannot be read is shown (the running server quarantines it when it loads it).
      if (heldOnly) continue;
      count++;
      const problem = (error as Error).message;
      io.stdout.write(json ? `${JSON.stringify({ id, unreadable: problem })}\n` : `${id}  UNREADABLE: ${problem}\n`);
      continue;
    }
    if (!msg) continue;
    if (heldOnly && !msg.state.held) continue;
    count++;
    io.stdout.write(json ? `${JSON.stringify(describe(msg))}\n` : `${listLines(msg)}\n`);
  }
  if (!json && heldOnly) io.stdout.write(count === 0 ? 'No message is held.\n' : `-- ${count} held message(s)\n`);
  else if (!json) io.stdout.write(count === 0 ? 'The queue is empty.\n' : `-- ${count} message(s)\n`);
  return EXIT_OK;
}

async function listQuarantined(dir: string, io: CliIo, json: boolean): Promise<number> {
  const entries = await listQuarantine(dir);
  for (const e of entries) {
    if (json) io.stdout.write(`${JSON.stringify({ ...e, at: iso(e.at) })}\n`);
    else io.stdout.write(`${e.name}  ${String(e.bytes).padStart(8)}  ${iso(e.at)}  ${e.reason}\n    ${e.files.map((f) => path.join(dir, f)).join('\n    ')}\n`);
  }
  if (!json) io.stdout.write(entries.length === 0 ? 'The quarantine is empty.\n' : `-- ${entries.length} quarantined entr${entries.length === 1 ? 'y' : 'ies'} in ${dir}\n`);
  return EXIT_OK;
}

async function show(spool: Spool, id: string, io: CliIo, json: boolean): Promise<number> {
  const msg = await spool.load(id);
  if (!msg) {
    io.stderr.write(`no message ${id} in the queue\n`);
    return EXIT_USER_ERROR;
  }
  const headers = (await originalHeaders(msg)).toString('utf8');
  if (json) {
    io.stdout.write(`${JSON.stringify({ ...describe(msg), envelope: msg.envelope, history: msg.state.history, headers })}\n`);
    return EXIT_OK;
  }
  const e = msg.envelope;
  const lines = [
    `queue id:     ${msg.id}`,
    `received:     ${iso(e.receivedAt)} from ${e.clientHostname ? `${e.clientHostname} ` : ''}[${e.clientIp}] helo ${e.helo} on ${e.listener}${e.authUser ? `, user ${e.authUser}` : ''}`,
    `sender:       <${e.sender}>`,
    `size:         ${msg.size} bytes`,
    `attempts:     ${msg.state.attempts}${msg.state.attempts > 0 && openRecipients(msg.state).length > 0 && !msg.state.held ? `, next ${iso(msg.state.nextAttemptAt)}` : ''}`,
    ...(msg.state.held ? [`held:         ${heldLine(msg).replace(/^ {2}HELD /, '')}`] : []),
    'recipients:',
    ...[...msg.state.recipients].map(([a, rs]) => `  ${a}  ${rs.status}${rs.host ? `  via ${rs.host}` : ''}${rs.reply ? `\n      ${rs.reply}` : ''}`),
    'history:',
    ...msg.state.history.map((h) => `  ${iso(h.at)}  ${h.kind}${h.next !== undefined ? `  next ${iso(h.next)}` : ''}${h.rcpt ? `  ${Object.entries(h.rcpt).map(([a, r]) => `${a}=${r.s}`).join(' ')}` : ''}`),
    'headers:',
    ...headerLines(headers).map((line) => `  ${line}`),
  ];
  io.stdout.write(`${lines.join('\n')}\n`);
  return EXIT_OK;
}

/**
 * A message's header block as lines for a terminal: CRLF (or a bare LF) ends
 * a line, and every other control character (a CR on its own, ESC, ...) is
 * shown as \xHH, so a header cannot move the cursor or rewrite the admin's
 * screen. Tabs (folded headers) stay.
 */
export function headerLines(headers: string): string[] {
  const lines = headers.replace(/\r?\n$/, '').split(/\r?\n/);
  // eslint-disable-next-line no-control-regex
  return lines.map((line) => line.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

function controlRequest(args: Args): QueueRequest {
  if (args.command === 'retry') return args.id ? { op: 'retry', id: args.id } : { op: 'retry' };
  if (args.command === 'hold' || args.command === 'release') {
    const selector: ControlSelector = args.id !== undefined ? { id: args.id } : args.user !== undefined ? { user: args.user } : { sender: args.sender as string };
    return args.command === 'hold' ? { op: 'hold', selector, ...(args.reason ? { reason: args.reason } : {}) } : { op: 'release', selector };
  }
  return { op: args.command as 'delete' | 'bounce', id: args.id as string };
}

/** No server runs: the CLI owns the spool for the moment and changes the files itself. */
async function applyDirectly(config: Config, request: QueueRequest): Promise<ControlReply> {
  const spool = await openSpool({ dir: spoolDirOf(config), quarantineDir: quarantineDirOf(config), logger: silentLogger(), ...(config.cluster.instance ? { instance: config.cluster.instance } : {}) });
  try {
    const now = Date.now();
    if (request.op === 'retry') {
      if (request.id !== undefined && spool.isHeld(request.id)) return { ok: false, message: `${request.id}: held; relayguard queue release ${request.id} first` };
      const ids = (request.id === undefined ? [...spool.entries()].map(([id]) => id) : spool.has(request.id) ? [request.id] : []).filter((id) => !spool.isHeld(id));
      if (request.id !== undefined && ids.length === 0) return { ok: false, message: `no message ${request.id} in the queue` };
      for (const id of ids) await spool.record(id, { at: now, kind: 'retry', next: now });
      return { ok: true, message: `${request.id ?? `${ids.length} message(s)`}: due now (delivered when serve runs)` };
    }
    if (request.op === 'hold' || request.op === 'release') return await holdDirectly(spool, config, request);
    if (!spool.has(request.id)) return { ok: false, message: `no message ${request.id} in the queue` };
    if (request.op === 'bounce') {
      const msg = await spool.load(request.id);
      const failed = msg
        ? openRecipients(msg.state)
            .filter((r) => wantsNotice(msg.envelope, r, 'FAILURE') === true)
            .map((r) => ({ recipient: r, status: 'failed' as const, reply: 'removed from the queue by the administrator', enhanced: '5.0.0' }))
        : [];
      if (msg && failed.length > 0 && msg.envelope.sender !== '') {
        await createBouncer({ spool, hostname: () => config.hostname, now: Date.now, logger: silentLogger() }).failed(msg, failed);
      }
    }
    await spool.remove(request.id);
    return { ok: true, message: `${request.id}: ${request.op === 'delete' ? 'deleted' : 'returned to the sender'}` };
  } finally {
    await spool.close();
  }
}

/** hold / release with no server running: the same selection and journal events the server uses. */
async function holdDirectly(spool: Spool, config: Config, request: Extract<QueueRequest, { op: 'hold' | 'release' }>): Promise<ControlReply> {
  const { selector } = request;
  const candidates = 'id' in selector ? (spool.has(selector.id) ? [selector.id] : []) : request.op === 'hold' ? [...spool.entries()].map(([id]) => id) : spool.heldIds();
  const changed: string[] = [];
  for (const id of candidates) {
    const msg = await spool.load(id).catch(() => undefined);
    if (!msg || !matchesSelector(msg.envelope, selector)) continue;
    const now = Date.now();
    const done = request.op === 'hold'
      ? !msg.state.held && (await spool.hold(id, holdMark(now, config.delivery, request.reason ?? ADMIN_HOLD_REASON, 'admin')))
      : msg.state.held !== undefined && (await spool.release(id, now));
    if (done) changed.push(id);
  }
  return holdReply(request.op, selector, changed, (id) => spool.isHeld(id), (id) => spool.has(id));
}

export async function runQueue(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv);
  if ('error' in args) {
    io.stderr.write(`${args.error}\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  if (args.id !== undefined && !isQueueId(args.id)) {
    io.stderr.write(`not a queue ID: ${args.id}\n`);
    return EXIT_USER_ERROR;
  }
  const config = await loadCommandConfig(args.config, io, USAGE);
  if (config === undefined) return EXIT_USER_ERROR;
  const dir = spoolDirOf(config);
  if (args.command === 'list' && args.quarantined) return listQuarantined(quarantineDirOf(config), io, args.json);
  if (args.command === 'list' || args.command === 'show') {
    if (!existsSync(queueDirOf(dir))) {
      if (args.command === 'list') io.stdout.write(args.json ? '' : 'The queue is empty.\n');
      else io.stderr.write(`no message ${args.id} in the queue\n`);
      return args.command === 'list' ? EXIT_OK : EXIT_USER_ERROR;
    }
    const spool = await openSpool({ dir, quarantineDir: quarantineDirOf(config), logger: silentLogger(), exclusive: false });
    try {
      return args.command === 'list' ? await list(spool, io, args.json, args.held) : await show(spool, args.id as string, io, args.json);
    } finally {
      await spool.close();
    }
  }
  const request = controlRequest(args);
  const owner = existsSync(dir) ? await liveOwner(dir) : undefined;
  let reply: ControlReply;
  try {
    reply = owner !== undefined ? await sendControlRequest(dir, request) : await applyDirectly(config, request);
  } catch (error) {
    io.stderr.write(`queue ${args.command}: ${(error as Error).message}\n`);
    return EXIT_USER_ERROR;
  }
  (reply.ok ? io.stdout : io.stderr).write(`${reply.message}\n`);
  return reply.ok ? EXIT_OK : EXIT_USER_ERROR;
}

// Requests from `relayguard queue` (and `relayguard accounts`) to the running server, through files in
// <spool>/control/: the CLI writes <req>.req (temp + rename, so it is never
// read half-written), the server (which watches the directory, and polls it
// as a fallback) carries it out, writes <req>.reply and removes the request.
// One writer per spool at any time: the server while it runs, otherwise the
// CLI itself.
import { randomBytes } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log/logger.ts';

/** Which messages a hold or release is about: exactly one of id, user, sender. */
export type ControlSelector = { readonly id: string } | { readonly user: string } | { readonly sender: string };

/** What `relayguard queue` asks of the running server's queue runner. */
export type QueueRequest =
  | { readonly op: 'retry'; readonly id?: string }
  | { readonly op: 'delete'; readonly id: string }
  | { readonly op: 'bounce'; readonly id: string }
  | { readonly op: 'hold'; readonly selector: ControlSelector; readonly reason?: string; /** Who holds (the hold mark's `by`); default "admin". */ readonly by?: string }
  | { readonly op: 'release'; readonly selector: ControlSelector };

/**
 * What `relayguard accounts` asks of the running server's account anomaly
 * detector (src/accounts/account-commands.ts answers; `by` is who asked, logged).
 */
export type AccountsRequest =
  | { readonly op: 'accounts-list' }
  | { readonly op: 'accounts-release'; readonly user: string; readonly by: string; readonly releaseHeld: boolean }
  | { readonly op: 'accounts-lock'; readonly user: string; readonly by: string };

export type ControlRequest = QueueRequest | AccountsRequest;

export function isAccountsRequest(request: ControlRequest): request is AccountsRequest {
  return request.op.startsWith('accounts-');
}

export interface ControlReply {
  readonly ok: boolean;
  readonly message: string;
  /** A result as JSON (accounts-list: the suspects). */
  readonly data?: unknown;
}

export function controlDirOf(spoolDir: string): string {
  return path.join(spoolDir, 'control');
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, file);
}

function parseSelector(value: unknown): ControlSelector | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const entries = Object.entries(value as Record<string, unknown>);
  const [entry] = entries;
  if (entries.length !== 1 || !entry || typeof entry[1] !== 'string') return undefined;
  const [key, text] = entry;
  if (key === 'id') return { id: text };
  if (key === 'user') return { user: text };
  if (key === 'sender') return { sender: text };
  return undefined;
}

function parseRequest(text: string): ControlRequest | undefined {
  try {
    const value = JSON.parse(text) as { op?: unknown; id?: unknown; selector?: unknown; reason?: unknown; user?: unknown; by?: unknown; releaseHeld?: unknown };
    if (value.op === 'accounts-list') return { op: 'accounts-list' };
    if ((value.op === 'accounts-release' || value.op === 'accounts-lock') && typeof value.user === 'string' && value.user !== '' && typeof value.by === 'string') {
      if (value.op === 'accounts-lock') return { op: 'accounts-lock', user: value.user, by: value.by };
      if (typeof value.releaseHeld === 'boolean') return { op: 'accounts-release', user: value.user, by: value.by, releaseHeld: value.releaseHeld };
    }
    const id = typeof value.id === 'string' ? value.id : undefined;
    if (value.op === 'retry') return id === undefined ? { op: 'retry' } : { op: 'retry', id };
    if ((value.op === 'delete' || value.op === 'bounce') && id !== undefined) return { op: value.op, id };
    const selector = parseSelector(value.selector);
    if (value.op === 'hold' && selector) return { op: 'hold', selector, ...(typeof value.reason === 'string' ? { reason: value.reason } : {}) };
    if (value.op === 'release' && selector) return { op: 'release', selector };
  } catch {
    // Falls through to "not a request".
  }
  return undefined;
}

/** CLI side: sends a request and waits (bounded) for the server's reply. */
export async function sendControlRequest(spoolDir: string, request: ControlRequest, timeoutMs = 10_000): Promise<ControlReply> {
  const dir = controlDirOf(spoolDir);
  const name = `${Date.now()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const replyFile = path.join(dir, `${name}.reply`);
  await writeAtomically(path.join(dir, `${name}.req`), JSON.stringify(request));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const reply = JSON.parse(await readFile(replyFile, 'utf8')) as ControlReply;
      await unlink(replyFile).catch(() => undefined);
      return reply;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  // Withdraw the request so a late server does not act on something we gave up on.
  const withdrawn = await unlink(path.join(dir, `${name}.req`)).then(() => true, () => false);
  return {
    ok: false,
    message: withdrawn ? 'the running server did not answer in time; nothing was changed' : 'the running server took the request but did not answer in time',
  };
}

export interface ControlWatcher {
  close(): void;
}

/** Server side: carries out requests one at a time as they appear. */
export function watchControl(
  spoolDir: string,
  handle: (request: ControlRequest) => Promise<ControlReply>,
  logger: Logger,
  pollMs = 500,
): ControlWatcher {
  const dir = controlDirOf(spoolDir);
  let running = false;
  let again = false;
  let closed = false;

  async function drain(): Promise<void> {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.req')).sort();
        for (const name of names) {
          if (closed) return;
          const file = path.join(dir, name);
          let text: string;
          try {
            text = await readFile(file, 'utf8');
          } catch {
            continue; // withdrawn meanwhile
          }
          const request = parseRequest(text);
          let reply: ControlReply;
          try {
            reply = request ? await handle(request) : { ok: false, message: 'not a valid request' };
          } catch (error) {
            reply = { ok: false, message: `failed: ${(error as Error).message}` };
          }
          logger.info({ request, ok: reply.ok, result: reply.message }, request && isAccountsRequest(request) ? 'accounts command' : 'queue command');
          await writeAtomically(path.join(dir, name.replace(/\.req$/, '.reply')), JSON.stringify(reply)).catch(() => undefined);
          await unlink(file).catch(() => undefined);
        }
      } while (again && !closed);
    } finally {
      running = false;
    }
  }

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, () => void drain());
    watcher.on('error', () => undefined);
  } catch {
    // Some file systems cannot be watched; the poll below still works.
  }
  const poll = setInterval(() => void drain(), pollMs);
  poll.unref();
  void drain();
  return {
    close() {
      closed = true;
      clearInterval(poll);
      watcher?.close();
    },
  };
}

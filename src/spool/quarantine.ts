// Quarantine of corrupt spool entries (issue 19 item 5): a message file whose
// header does not parse, a journal with lines that are not events, bytes of a
// segment that are not whole records. They are moved (a message and its
// journal: rename, then fsync of both directories) or copied (segment bytes:
// the segment still holds live records) into <data_dir>/quarantine/, each
// with a <name>.reason file (JSON: reason, when, where from), logged once,
// counted and listed (`relayguard queue list --quarantined`, /api/status, the
// dashboard), and never deleted: that is for the administrator to do.
import { copyFile, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log/logger.ts';
import { DirSync } from './dir-sync.ts';
import { ifMissing, isMissing } from './missing-file.ts';

export interface QuarantineEntry {
  /** The entry's name in the quarantine folder (a message id, or <segment>@<offset>). */
  readonly name: string;
  /** The files kept for it. */
  readonly files: readonly string[];
  readonly reason: string;
  /** Epoch ms when it was quarantined (the reason file's mtime when unknown). */
  readonly at: number;
  readonly bytes: number;
}

interface ReasonFile {
  readonly reason: string;
  readonly at: number;
  readonly from: readonly string[];
}

const REASON = '.reason';

/** Where serve and `relayguard queue` keep the quarantine: <data_dir>/quarantine, beside the spool. */
export function quarantineDirOf(config: { readonly dataDir: string }): string {
  return path.join(config.dataDir, 'quarantine');
}

export class Quarantine {
  readonly dir: string;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #sync: DirSync;
  #count: number | undefined;

  constructor(dir: string, logger: Logger, now: () => number) {
    this.dir = dir;
    this.#logger = logger;
    this.#now = now;
    this.#sync = new DirSync(dir);
  }

  /** Entries (reason files) at the last count; counted once at open, then kept up to date. */
  get count(): number {
    return this.#count ?? 0;
  }

  async open(): Promise<void> {
    const names = await readdir(this.dir).catch(ifMissing([] as string[]));
    this.#count = names.filter((n) => n.endsWith(REASON)).length;
  }

  /** Is there an entry of this name already (segment damage found again at the next start)? */
  async has(name: string): Promise<boolean> {
    return stat(path.join(this.dir, `${name}${REASON}`)).then(() => true, ifMissingFalse);
  }

  /**
   * Moves files (those that exist) into the quarantine under `name`, with its
   * reason file; `from` is the directory to fsync after the renames.
   */
  async moveIn(name: string, files: readonly string[], reason: string, from: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const moved: string[] = [];
    for (const file of files) {
      const target = path.join(this.dir, path.basename(file));
      try {
        await rename(file, target);
      } catch (error) {
        if (isMissing(error)) continue;
        if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
        await copyFile(file, target);
        await syncFile(target);
        await unlink(file);
      }
      moved.push(file);
    }
    await this.#writeReason(name, { reason, at: this.#now(), from: moved });
    await syncDir(from);
    this.#logger.error({ quarantine: name, files: moved, reason, dir: this.dir }, 'corrupt spool entry moved to the quarantine');
  }

  /** Keeps a copy of `bytes` (damaged segment bytes) under `name`. */
  async copyIn(name: string, bytes: Buffer, reason: string, from: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const target = path.join(this.dir, name);
    const handle = await open(target, 'w');
    try {
      await handle.writeFile(bytes);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await this.#writeReason(name, { reason, at: this.#now(), from: [from] });
    this.#logger.error({ quarantine: name, bytes: bytes.length, reason, dir: this.dir }, 'corrupt spool bytes copied to the quarantine');
  }

  async #writeReason(name: string, reason: ReasonFile): Promise<void> {
    const file = path.join(this.dir, `${name}${REASON}`);
    const handle = await open(file, 'w');
    try {
      await handle.writeFile(`${JSON.stringify(reason)}\n`);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await this.#sync.sync();
    this.#count = (this.#count ?? 0) + 1;
  }

  /** Every entry, oldest first; files without a reason file are listed on their own ("no reason recorded"). */
  async list(): Promise<QuarantineEntry[]> {
    return listQuarantine(this.dir);
  }
}

/** Reads a quarantine folder (also for the CLI, with no spool open). */
export async function listQuarantine(dir: string): Promise<QuarantineEntry[]> {
  const names = (await readdir(dir).catch(ifMissing([] as string[]))).sort();
  const reasons = names.filter((n) => n.endsWith(REASON)).map((n) => n.slice(0, -REASON.length));
  const claimed = new Set<string>(names.filter((n) => n.endsWith(REASON)));
  const entries: QuarantineEntry[] = [];
  for (const name of reasons) {
    const text = await readFile(path.join(dir, `${name}${REASON}`), 'utf8').catch(() => '');
    let parsed: Partial<ReasonFile> = {};
    try {
      parsed = JSON.parse(text) as Partial<ReasonFile>;
    } catch {
      // An unreadable reason file still names its entry.
    }
    const files = names.filter((n) => !n.endsWith(REASON) && (n === name || n.startsWith(`${name}.`)));
    for (const f of files) claimed.add(f);
    const at = typeof parsed.at === 'number' ? parsed.at : (await stat(path.join(dir, `${name}${REASON}`)).catch(() => undefined))?.mtimeMs ?? 0;
    entries.push({ name, files, reason: typeof parsed.reason === 'string' ? parsed.reason : 'reason file unreadable', at, bytes: await sizeOf(dir, files) });
  }
  for (const name of names) {
    if (claimed.has(name)) continue;
    const info = await stat(path.join(dir, name)).catch(() => undefined);
    entries.push({ name, files: [name], reason: 'no reason recorded', at: info?.mtimeMs ?? 0, bytes: info?.size ?? 0 });
  }
  return entries.sort((a, b) => a.at - b.at || (a.name < b.name ? -1 : 1));
}

async function sizeOf(dir: string, files: readonly string[]): Promise<number> {
  let total = 0;
  for (const f of files) total += (await stat(path.join(dir, f)).catch(() => undefined))?.size ?? 0;
  return total;
}

function ifMissingFalse(error: unknown): boolean {
  if (isMissing(error)) return false;
  throw error;
}

async function syncFile(file: string): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  await new DirSync(dir).sync();
}

// The detector's state on disk: suspects (with the queue ids held for each
// episode), locks, and each user's baseline and known senders, as one small
// JSON file in data_dir (config [accounts] state_file). Written whole,
// atomically (temp file, fsync, rename), one write at a time; a file that
// cannot be read is renamed aside and logged, never silently ignored.
import { open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log/logger.ts';
import type { SuspectAccount } from './account-control.ts';
import type { BaselineState } from './account-activity.ts';

/** A suspect as kept: what the dashboard sees, plus the held messages of the episode. */
export interface SuspectRecord extends Omit<SuspectAccount, 'heldMessages'> {
  /** Queue ids stored held because of this episode. */
  readonly heldIds: string[];
}

export interface AccountsState {
  readonly suspects: SuspectRecord[];
  readonly baselines: Record<string, { baseline: BaselineState; senders: string[] }>;
}

const EMPTY: AccountsState = { suspects: [], baselines: {} };

function valid(value: unknown): value is AccountsState {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { suspects?: unknown; baselines?: unknown };
  return Array.isArray(v.suspects) && v.suspects.every((s) => typeof s === 'object' && s !== null && typeof (s as { user?: unknown }).user === 'string' && Array.isArray((s as { heldIds?: unknown }).heldIds) && Array.isArray((s as { triggers?: unknown }).triggers))
    && typeof v.baselines === 'object' && v.baselines !== null;
}

/**
 * What one instance tells the others (config [cluster]): activity counted
 * into their windows (never judged there), and suspect episodes opened,
 * widened or ended. Held queue ids never travel: each instance's spool holds
 * its own messages, and each releases its own.
 */
export type SharedAccountEvent =
  | { readonly type: 'message'; readonly user: string; readonly at: number; readonly domains: readonly string[]; readonly cleanSender?: string }
  | { readonly type: 'login'; readonly user: string; readonly at: number; readonly network: string }
  | { readonly type: 'answers'; readonly user: string; readonly at: number; readonly refused: readonly boolean[] }
  | { readonly type: 'suspect'; readonly suspect: SharedSuspect }
  | { readonly type: 'release'; readonly user: string; readonly by: string; readonly releaseHeld: boolean; readonly at: number };

/** A suspect as the cluster shares it (no held ids). */
export type SharedSuspect = Omit<SuspectRecord, 'heldIds'>;

/**
 * Where the detector keeps its state: AccountStore (this file, one
 * instance) or, with [cluster], src/cluster/redis-account-store.ts, which
 * keeps the same file for what stays per instance and shares the rest
 * through Redis.
 */
export interface AccountStateStore {
  load(): Promise<AccountsState>;
  save(read: () => AccountsState): Promise<void>;
  /** Tells the other instances (never rejects, never waits on them); absent on a single instance. */
  share?(event: SharedAccountEvent): void;
  /** Calls `handler` with the other instances' events (and suspects read back after an outage). */
  subscribe?(handler: (event: SharedAccountEvent) => void): void;
  close?(): Promise<void>;
}

export class AccountStore implements AccountStateStore {
  readonly #file: string;
  readonly #logger: Logger;
  #writing: Promise<void> = Promise.resolve();
  #queued: Promise<void> | undefined;
  #latest: () => AccountsState = () => EMPTY;

  constructor(file: string, logger: Logger) {
    this.#file = file;
    this.#logger = logger;
  }

  get file(): string {
    return this.#file;
  }

  async load(): Promise<AccountsState> {
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY;
      throw error;
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (valid(parsed)) return parsed;
    } catch {
      // Falls through: kept aside below.
    }
    const aside = `${this.#file}.corrupt-${Date.now()}`;
    await rename(this.#file, aside).catch(() => undefined);
    this.#logger.error({ file: this.#file, keptAs: aside }, 'account anomaly state unreadable; kept aside, starting without suspects');
    return EMPTY;
  }

  /**
   * Writes the state whole, after any write in progress; never rejects (a
   * failure is logged). Saves asked for while one waits are one write of the
   * latest state (`read` is called when the write starts), so a burst of held
   * messages costs a write per fsync, not one per message.
   */
  save(read: () => AccountsState): Promise<void> {
    this.#latest = read;
    if (this.#queued) return this.#queued;
    const queued = this.#writing
      .then(() => {
        this.#queued = undefined;
        return this.#write(JSON.stringify(this.#latest()));
      })
      .catch((error: unknown) => {
        this.#logger.error({ err: error, file: this.#file }, 'cannot write the account anomaly state');
      });
    this.#queued = queued;
    this.#writing = queued;
    return queued;
  }

  async #write(text: string): Promise<void> {
    const tmp = path.join(path.dirname(this.#file), `.${path.basename(this.#file)}.tmp`);
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, this.#file);
    const dir = await open(path.dirname(this.#file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

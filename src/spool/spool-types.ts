// The spool's public shape (spool.ts re-exports it; the parts it is built
// from implement pieces of it).
import type { Logger } from '../log/logger.ts';
import type { QuarantineEntry } from './quarantine.ts';
import type { StoredEnvelope } from './spool-file.ts';
import type { HoldMark, JournalEvent, MessageState } from './state-journal.ts';
import type { SpoolIntake } from './types.ts';

export interface SpoolOptions {
  readonly dir: string;
  readonly instance?: string;
  readonly logger: Logger;
  readonly now?: () => number;
  /** Take the owner file (default true); false for read-only inspection by the CLI. */
  readonly exclusive?: boolean;
  readonly cacheBytes?: number;
  /** Size at which a segment file is closed for appends (tests use small ones). */
  readonly maxSegmentBytes?: number;
  /** Where corrupt entries go: serve and the CLI pass <data_dir>/quarantine (quarantineDirOf); default <dir>/quarantine. */
  readonly quarantineDir?: string;
}

export interface LoadedMessage {
  readonly id: string;
  readonly envelope: StoredEnvelope;
  readonly state: MessageState;
  /** Size of the message bytes (without the spool header). */
  readonly size: number;
  readonly file: string;
  readonly bodyOffset: number;
  /** The whole body when it was small enough to come with the first read or the cache. */
  readonly body?: Buffer;
}

export interface SpoolStats {
  readonly size: number;
  /** Held messages (counted in size too). */
  readonly held: number;
  /** Entries in the quarantine (corrupt spool files kept for the administrator). */
  readonly quarantined: number;
  /** Accept time of the oldest message, undefined when empty. */
  readonly oldestReceivedAt: number | undefined;
}

export type AcceptedListener = (id: string, due: number) => void;

export interface Spool extends SpoolIntake {
  readonly dir: string;
  /** Ids with their next attempt time, oldest id first. */
  entries(): IterableIterator<[string, number]>;
  dueOf(id: string): number | undefined;
  /** Changes a message's due time in memory only (the journal keeps the durable one). */
  setDue(id: string, due: number): void;
  has(id: string): boolean;
  load(id: string): Promise<LoadedMessage | undefined>;
  /** Appends a journal event durably; `next` (if any) becomes the message's due time. */
  record(id: string, event: JournalEvent): Promise<void>;
  /** Removes a message and its journal (delivered, bounced or deleted). */
  remove(id: string): Promise<void>;
  onAccepted(listener: AcceptedListener): () => void;
  /**
   * Holds a message: journalled (durable) before this resolves, then not due
   * before `mark.until`. false when there is no such message or it is held already.
   */
  hold(id: string, mark: HoldMark): Promise<boolean>;
  /** Releases a held message: journalled, then due at `at`. false when it is not held. */
  release(id: string, at: number): Promise<boolean>;
  /** Held, as far as the in-memory set knows (the state a load returns is the truth). */
  isHeld(id: string): boolean;
  heldIds(): string[];
  /** After a load: the in-memory set and the markers follow the message's state. */
  reconcileHold(id: string, held: HoldMark | undefined): Promise<void>;
  stats(): SpoolStats;
  /** The quarantine's entries, oldest first. */
  quarantined(): Promise<QuarantineEntry[]>;
  /** Readiness: a small file can be written, fsynced and removed in tmp/. */
  probe(): Promise<boolean>;
  close(): Promise<void>;
}

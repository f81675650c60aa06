// The spool's public shape (spool.ts re-exports it; the parts it is built
// from implement pieces of it).
import type { Logger } from '../log/logger.ts';
import type { StoredEnvelope } from './spool-file.ts';
import type { JournalEvent, MessageState } from './state-journal.ts';
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
  stats(): SpoolStats;
  /** Readiness: a small file can be written, fsynced and removed in tmp/. */
  probe(): Promise<boolean>;
  close(): Promise<void>;
}

// The durable spool. Layout under `dir`:
//   segments/           small messages as they are accepted: records appended to a shared
//                       file with group commit, on disk before accept() resolves (segments.ts)
//   tmp/<id>.msg        being written; anything here at start is a torn write and is removed
//   queue/<id>.msg      a message with a file of its own (spool-file.ts): large messages, and
//                       any message moved out of its segment at its first record() (a deferral),
//                       so a segment never lives as long as the queue lifetime of one message
//   queue/<id>.state    the recipient journal (state-journal.ts); its mtime is set to the next
//                       attempt time so a start-up scan needs a stat, not a read, per message
//   control/            requests from `relayguard queue` to the running server (control.ts)
//   owner               pid of the process running the queue (spool-lock.ts)
// In memory: only an index id -> next attempt time, and a bounded cache of
// small just-accepted bodies so the first delivery attempt needs no read.
// The parts (docs/spool.md tells the whole story):
//   spool-recovery.ts   start-up: scan queue/, recover segments/, one index
//   intake.ts           accept(): segment append (group commit) or a file of its own
//   stored-messages.ts  load / record / remove, whether in a segment or a file
//   message-files.ts    queue/<id>.msg: commit (fdatasync, rename, dir fsync), read
//   journal-files.ts    queue/<id>.state: durable appends, mtime = next attempt
//   segments.ts         segment files, their recovery and done marks
//   body-cache.ts       the just-accepted bodies
import { mkdir, open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { BodyCache } from './body-cache.ts';
import { DirSync } from './dir-sync.ts';
import { HeldMessages } from './held-messages.ts';
import { Quarantine } from './quarantine.ts';
import { Intake, SMALL_MESSAGE } from './intake.ts';
import { JournalFiles } from './journal-files.ts';
import { MessageFiles } from './message-files.ts';
import { createQueueIdGenerator, queueIdTime } from './queue-id.ts';
import { acquireOwner, releaseOwner } from './spool-lock.ts';
import { SpoolPaths } from './spool-paths.ts';
import { recoverSpool } from './spool-recovery.ts';
import type { Spool, SpoolOptions } from './spool-types.ts';
import { StoredMessages } from './stored-messages.ts';

export { queueDirOf } from './spool-paths.ts';
export { listQuarantine, quarantineDirOf, type QuarantineEntry } from './quarantine.ts';
export type { AcceptedListener, LoadedMessage, Spool, SpoolOptions, SpoolStats } from './spool-types.ts';

const DEFAULT_CACHE_BYTES = 32 * 1024 * 1024;

/** Where serve and `relayguard queue` find the spool: <data_dir>/spool. */
export function spoolDirOf(config: { readonly dataDir: string }): string {
  return path.join(config.dataDir, 'spool');
}

export async function openSpool(options: SpoolOptions): Promise<Spool> {
  const now = options.now ?? Date.now;
  const dir = path.resolve(options.dir);
  const paths = new SpoolPaths(dir);
  await mkdir(paths.queueDir, { recursive: true });
  await mkdir(paths.tmpDir, { recursive: true });
  await mkdir(paths.controlDir, { recursive: true });
  const exclusive = options.exclusive ?? true;
  if (exclusive) await acquireOwner(dir);
  const logger = options.logger.child({ component: 'spool' });
  const queueSync = new DirSync(paths.queueDir);
  const nextId = createQueueIdGenerator({ now, ...(options.instance ? { instance: options.instance } : {}) });
  const quarantine = new Quarantine(options.quarantineDir ?? path.join(dir, 'quarantine'), logger, now);
  await quarantine.open();
  const writableQuarantine = exclusive ? quarantine : undefined;
  const { segments, located, index, journaled, held: heldIds } = await recoverSpool(paths, logger, exclusive, options.maxSegmentBytes, writableQuarantine);
  const cache = new BodyCache(options.cacheBytes ?? DEFAULT_CACHE_BYTES, SMALL_MESSAGE);
  const journals = new JournalFiles(paths, queueSync, exclusive, journaled);
  const files = new MessageFiles(paths, queueSync, journals);
  const held = new HeldMessages(paths, queueSync, located, exclusive, heldIds);
  const intake = new Intake({ paths, files, segments, located, index, cache, nextId, logger, held });
  const messages = new StoredMessages({ paths, queueSync, files, journals, segments, located, index, cache, held, quarantine: writableQuarantine });

  return {
    dir,
    nextId,
    accept: intake.accept.bind(intake),
    load: messages.load.bind(messages),
    record: messages.record.bind(messages),
    remove: messages.remove.bind(messages),
    entries: () => index.entries(),
    dueOf: (id) => index.get(id),
    setDue(id, due) {
      if (index.has(id)) index.set(id, due);
    },
    has: (id) => index.has(id),
    onAccepted: (listener) => intake.onAccepted(listener),
    async hold(id, mark) {
      if (!index.has(id) || held.has(id)) return false;
      const { at, ...rest } = mark;
      await messages.record(id, { at, kind: 'hold', hold: rest, next: mark.until });
      await held.add(id, mark);
      return true;
    },
    async release(id, at) {
      if (!index.has(id) || !held.has(id)) return false;
      await messages.record(id, { at, kind: 'release', next: at });
      await held.drop(id);
      return true;
    },
    isHeld: (id) => held.has(id),
    heldIds: () => held.ids(),
    reconcileHold: (id, mark) => held.reconcile(id, mark),
    stats() {
      const first = index.keys().next();
      return { size: index.size, held: held.size, quarantined: quarantine.count, oldestReceivedAt: first.done ? undefined : queueIdTime(first.value) };
    },
    quarantined: () => quarantine.list(),
    async probe() {
      return (await canWriteIn(paths.tmpDir)) && !intake.closed;
    },
    async close() {
      if (intake.closed) return;
      intake.close();
      cache.clear();
      await segments.close();
      if (exclusive) await releaseOwner(dir);
    },
  };
}

/** A small file can be written, fdatasynced and removed in `dir`. */
async function canWriteIn(dir: string): Promise<boolean> {
  const file = path.join(dir, `.probe-${process.pid}-${Date.now()}`);
  try {
    const handle = await open(file, 'w');
    try {
      await handle.write('ok');
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await unlink(file);
    return true;
  } catch {
    await unlink(file).catch(() => undefined);
    return false;
  }
}

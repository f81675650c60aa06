// What a spool holds at start-up, after a clean stop or a crash: the scan of
// queue/ (spool-scan.ts: torn tmp/ files and orphaned journals go, due times
// come from the journals' mtimes) and the live records of segments/
// (segments.ts: torn tails are skipped, done marks and messages moved to
// queue/ are not live), merged into one index, oldest id first.
import type { Logger } from '../log/logger.ts';
import { queueIdTime } from './queue-id.ts';
import type { Quarantine } from './quarantine.ts';
import { SegmentStore, type SegmentLocation } from './segments.ts';
import type { SpoolPaths } from './spool-paths.ts';
import { scan } from './spool-scan.ts';

export interface RecoveredSpool {
  readonly segments: SegmentStore;
  /** Messages that live in a segment (the others have a file in queue/). */
  readonly located: Map<string, SegmentLocation>;
  /** id -> due time, oldest id first. */
  readonly index: Map<string, number>;
  /** Messages that have a journal file. */
  readonly journaled: Set<string>;
  /** Held messages (markers in queue/, holds in segment envelopes). */
  readonly held: Set<string>;
}

/** `exclusive` false: read-only (the CLI looking at a running server's spool), nothing is removed. */
export async function recoverSpool(paths: SpoolPaths, logger: Logger, exclusive: boolean, maxSegmentBytes?: number, quarantine?: Quarantine): Promise<RecoveredSpool> {
  const scanned = await scan(paths.queueDir, paths.tmpDir, logger, !exclusive);
  const { store: segments, recovered } = await SegmentStore.open({
    dir: paths.segmentsDir,
    logger,
    writable: exclusive,
    movedOut: new Set(scanned.index.keys()),
    ...(maxSegmentBytes ? { maxSegmentBytes } : {}),
    ...(quarantine ? { quarantine } : {}),
  });
  const located = new Map<string, SegmentLocation>();
  for (const { id, location } of recovered) located.set(id, location);
  const index = mergeIndex(scanned.index, recovered.map((r) => r.id));
  const held = scanned.held;
  for (const r of recovered) {
    if (!r.held) continue;
    held.add(r.id);
    index.set(r.id, r.held.until); // not due before its hold expires
  }
  if (index.size > 0) logger.info({ messages: index.size, inSegments: located.size, deferred: scanned.journaled.size, held: held.size }, 'spool scanned');
  return { segments, located, index, journaled: scanned.journaled, held };
}

/** PURE. Both kinds of spooled message in one index, oldest id (accept time) first; a segment message is due at its accept time. */
export function mergeIndex(files: Map<string, number>, segmentIds: readonly string[]): Map<string, number> {
  if (segmentIds.length === 0) return files;
  const all = [...files.entries(), ...segmentIds.map((id): [string, number] => [id, queueIdTime(id) ?? 0])];
  all.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return new Map(all);
}

// The start-up scan of a spool directory (see spool.ts for the layout).
import { opendir, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log/logger.ts';
import { isQueueId, queueIdTime } from './queue-id.ts';

/**
 * Start-up scan: removes torn temp files and orphaned journals (unless
 * `readOnly`: the CLI looking at a running server's spool), and returns
 * every message with its due time, oldest id first. Streams the directory,
 * so 100,000 entries are never listed at once.
 */
export async function scan(
  queueDir: string,
  tmpDir: string,
  logger: Logger,
  readOnly = false,
): Promise<{ index: Map<string, number>; journaled: Set<string>; held: Set<string> }> {
  let torn = 0;
  if (!readOnly) {
    for await (const entry of await opendir(tmpDir)) {
      await rm(path.join(tmpDir, entry.name), { force: true, recursive: true });
      torn++;
    }
  }
  if (torn > 0) logger.warn({ count: torn }, 'discarded incomplete spool writes');
  const messages: string[] = [];
  const journals = new Set<string>();
  const markers = new Set<string>();
  for await (const entry of await opendir(queueDir)) {
    const dot = entry.name.lastIndexOf('.');
    const id = entry.name.slice(0, dot);
    const ext = entry.name.slice(dot);
    if (!isQueueId(id)) continue;
    if (ext === '.msg') messages.push(id);
    else if (ext === '.state') journals.add(id);
    else if (ext === '.held') markers.add(id);
  }
  messages.sort();
  const index = new Map<string, number>();
  const withJournal: string[] = [];
  for (const id of messages) {
    index.set(id, queueIdTime(id) ?? 0);
    if (journals.delete(id)) withJournal.push(id);
  }
  const held = new Set<string>();
  for (const id of markers) if (index.has(id)) held.add(id);
  if (!readOnly) {
    for (const orphan of journals) await unlink(path.join(queueDir, `${orphan}.state`)).catch(() => undefined);
    for (const id of markers) if (!held.has(id)) await unlink(path.join(queueDir, `${id}.held`)).catch(() => undefined);
  }
  // The journal's mtime is the next attempt time (set by record()); stat in parallel batches.
  for (let i = 0; i < withJournal.length; i += 64) {
    await Promise.all(
      withJournal.slice(i, i + 64).map(async (id) => {
        try {
          index.set(id, (await stat(path.join(queueDir, `${id}.state`))).mtimeMs);
        } catch {
          // Removed meanwhile: keep the accept time, the load re-reads the truth.
        }
      }),
    );
  }
  return { index, journaled: new Set(withJournal), held };
}

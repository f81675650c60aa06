// Who owns a spool directory: the `owner` file holds the pid of the process
// running the queue (serve). The CLI reads it to decide whether to ask the
// running server (control requests) or act on the files itself. A stale file
// (process gone) is taken over. The same pid counts as ours, which also covers
// a container where the server is always pid 1.
import { readFile, writeFile, unlink, rename } from 'node:fs/promises';
import path from 'node:path';
import { SpoolError } from './errors.ts';

export function ownerFile(dir: string): string {
  return path.join(dir, 'owner');
}

export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid of another live process owning the spool, or undefined. */
export async function liveOwner(dir: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(ownerFile(dir), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.trim().split(/\s+/)[0]);
  if (pid === process.pid || !isProcessAlive(pid)) return undefined;
  return pid;
}

export async function acquireOwner(dir: string): Promise<void> {
  const other = await liveOwner(dir);
  if (other !== undefined) {
    throw new SpoolError('SPOOL_LOCKED', `spool ${dir} is in use by process ${other}`, { temporary: false });
  }
  const tmp = `${ownerFile(dir)}.${process.pid}`;
  await writeFile(tmp, `${process.pid}\n`);
  await rename(tmp, ownerFile(dir));
}

export async function releaseOwner(dir: string): Promise<void> {
  try {
    const text = await readFile(ownerFile(dir), 'utf8');
    if (Number(text.trim()) === process.pid) await unlink(ownerFile(dir));
  } catch {
    // Already gone: nothing to release.
  }
}

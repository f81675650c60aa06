// Small file-writing helpers for the spool's accept path.
import type { FileHandle } from 'node:fs/promises';

/**
 * Writes every buffer with `writev` (which returns the bytes it wrote),
 * continuing where a short write stopped (rare, e.g. a nearly full disk).
 */
export async function writeFully(writev: (buffers: Buffer[]) => Promise<number>, buffers: Buffer[]): Promise<void> {
  let pending = buffers.filter((b) => b.length > 0);
  while (pending.length > 0) {
    let written = await writev(pending);
    const rest: Buffer[] = [];
    for (const buffer of pending) {
      if (written >= buffer.length) {
        written -= buffer.length;
        continue;
      }
      rest.push(written > 0 ? buffer.subarray(written) : buffer);
      written = 0;
    }
    pending = rest;
  }
}

export async function writeAll(handle: FileHandle, buffers: Buffer[]): Promise<void> {
  await writeFully(async (pending) => (await handle.writev(pending)).bytesWritten, buffers);
}

// How long this minute's disk takes to make a small append durable: the
// latency every accepted message waits for before its 250 (the spool's
// O_DSYNC group commit), which no code of ours sets and which moves with
// the machine's neighbours. 1 KiB appends to an O_DSYNC file, one after
// another, in `dir` (the filesystem the relay's spool is on).
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';

/** Median and 90th percentile, in ms, of `count` durable 1 KiB appends (synchronous: call it between phases). */
export async function measureDiskFlush(dir: string, count = 100): Promise<{ p50Ms: number; p90Ms: number }> {
  const work = await mkdtemp(path.join(dir, 'relayguard-disk-'));
  try {
    const fd = openSync(path.join(work, 'probe'), constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC, 0o600);
    const block = Buffer.alloc(1024, 0x61);
    const times: number[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const started = process.hrtime.bigint();
        writeSync(fd, block);
        times.push(Number(process.hrtime.bigint() - started) / 1e6);
      }
    } finally {
      closeSync(fd);
    }
    times.sort((a, b) => a - b);
    const at = (q: number) => Math.round((times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0) * 1000) / 1000;
    return { p50Ms: at(0.5), p90Ms: at(0.9) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

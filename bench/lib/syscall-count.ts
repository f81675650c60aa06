// System calls of every thread of a process, counted by `strace -c -f`
// while it runs: a figure the machine's load does not move, where CPU time
// does. strace slows the process it follows, so the CPU figures of a traced
// run do not compare with an untraced one.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface SyscallCount {
  /** Stops tracing and returns the number of calls by name. */
  stop(): Promise<Map<string, number>>;
}

/** Attaches to every thread of `pid` (waits a second for strace to be in place); `only` limits the calls traced (e.g. ['write', 'writev']). */
export async function startSyscallCount(pid: number, only: readonly string[] = []): Promise<SyscallCount> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-strace-'));
  const counts = path.join(dir, 'counts');
  const tracer = spawn('strace', ['-c', '-f', ...(only.length > 0 ? ['-e', `trace=${only.join(',')}`] : []), '-o', counts, '-p', String(pid)], { stdio: 'ignore' });
  const gone = new Promise((resolve) => tracer.once('exit', resolve));
  await new Promise((resolve) => setTimeout(resolve, 1000)); // attached to every thread
  return {
    async stop() {
      tracer.kill('SIGINT');
      await gone;
      try {
        const table = await readFile(counts, 'utf8');
        // "% time  seconds  usecs/call  calls  [errors]  syscall"
        return new Map([...table.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$/gm)].map((m) => [m[2] as string, Number(m[1])]));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

// CPU time of each thread of a process, from /proc (Linux).
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';

/** CPU milliseconds (user + system) of each thread of `pid`, by thread id. */
export async function threadCpu(pid: number): Promise<Map<number, number>> {
  const cpu = new Map<number, number>();
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => '');
    if (!stat) continue; // the thread ended meanwhile
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    cpu.set(Number(tid), (Number(fields[11]) + Number(fields[12])) * 10);
  }
  return cpu;
}

/** Context switches (voluntary + involuntary) of all threads of `pid` so far. */
export async function contextSwitches(pid: number): Promise<number> {
  let total = 0;
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const status = await readFile(`/proc/${pid}/task/${tid}/status`, 'utf8').catch(() => '');
    for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) total += Number(m[1]);
  }
  return total;
}

/**
 * The calling thread's CPU time in ns (Linux: the first field of
 * /proc/thread-self/schedstat), so time spent waiting for a core on a loaded
 * machine is not counted; wall time where that file does not exist.
 */
export function threadCpuNs(): bigint {
  try {
    return BigInt(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0] ?? '0');
  } catch {
    return process.hrtime.bigint();
  }
}

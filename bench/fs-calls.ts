// Every system call the relay makes per accepted-and-delivered message, by
// thread and by file: a count that does not move with the machine's load.
// The relay (production build, every policy on) is warmed with 2,000
// messages from pipelining clients (as bench/pipelined-cpu.ts sends them),
// then `strace -f -y` follows all its threads while --messages more are sent
// and delivered. Each call is put under its thread (main, the delivery
// worker, libuv's fs pool, V8's helpers: told apart by what they do) and,
// for calls on a file, under the spool/journal/log file it touches, so each
// operation can be traced to the code that issues it.
//
//   node --import tsx bench/fs-calls.ts [--messages=2000] [--sessions=50]
//        [--relay-repo=DIR] [--raw] [--all] [--perf=FILE]
//
// By default only file and descriptor calls are traced, through a seccomp
// filter (--seccomp-bpf), so every other call runs at full speed and the
// batches (group commit, done marks) stay near their untraced size. --all
// traces every call (futex, epoll, mmap ...): the relay is then several
// times slower and its batches larger. --raw lists every row. --perf=FILE
// records the fs pool threads with `perf record -g` during the untraced
// phase (read it with `perf report -i FILE`: where their CPU goes in the kernel).
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { startDnsServer } from '../test/helpers/dns-server.ts';
import { findTool, sinkReaches, startSink } from './lib/postfix-tools.ts';
import { sendPipelined } from './lib/pipelining-client.ts';
import { threadCpu } from './lib/thread-cpu-stat.ts';
import { REPO, measuredRelayOptions, prepareRelayCode, seedBenchDns, startRelayChild } from './lib/relay-child.ts';

const { values } = parseArgs({ options: { messages: { type: 'string' }, sessions: { type: 'string' }, 'relay-repo': { type: 'string' }, raw: { type: 'boolean' }, all: { type: 'boolean' }, perf: { type: 'string' } } });
const messages = Number(values.messages ?? 2000);
const sessions = Number(values.sessions ?? 50);
const relayRepo = values['relay-repo'] ? path.resolve(values['relay-repo']) : REPO;
const WARM_UP = 2000;

/** Every call that can touch a file or a descriptor (sockets included: they name the threads). */
const FS_CALLS = 'read,write,readv,writev,pread64,pwrite64,preadv,pwritev,preadv2,pwritev2,fdatasync,fsync,sync_file_range,open,openat,close,rename,renameat,renameat2,link,linkat,unlink,unlinkat,mkdir,mkdirat,rmdir,stat,lstat,fstat,newfstatat,statx,access,faccessat,faccessat2,getdents64,ftruncate,fallocate,utimensat,futimesat,fchmod,fchmodat,chmod,fchown,lseek,fcntl,ioctl,flock,inotify_add_watch,inotify_rm_watch';

/** What perf stat counts in the untraced phase ('all': every system call). */
const COUNTED = ['all', 'writev', 'pwritev', 'write', 'pwrite64', 'fdatasync', 'fsync', 'openat', 'close', 'rename', 'unlink', 'newfstatat', 'statx', 'getdents64', 'read', 'pread64', 'futex', 'epoll_wait', 'epoll_pwait'];

/** What a file or descriptor is, for the table: the spool's kinds by directory and suffix. */
export function fileKind(target: string): string {
  if (/^(TCP|TCPv6|UDP|UDPv6|UNIX|NETLINK)[:[]/.test(target) || target.startsWith('socket:')) return 'socket';
  if (target.startsWith('pipe:')) return 'pipe';
  if (target.startsWith('anon_inode:')) return target.replace(/\[.*$/, '');
  const spool = /\/spool\/(segments|queue|tmp)\/?[^/]*?(\.[a-z]+)?$/.exec(target);
  if (spool) return `spool/${spool[1]}/*${spool[2] ?? ''}`;
  if (/\/spool\/?$/.test(target)) return 'spool/';
  if (/\/journal\//.test(target) || /\/journal$/.test(target)) return 'journal';
  if (/\.log$/.test(target) || /\/log\//.test(target)) return 'log file';
  if (target.startsWith('/proc/') || target.startsWith('/sys/')) return target.replace(/\/\d+\//g, '/N/');
  return target.length > 60 ? `…${target.slice(-60)}` : target;
}

/** The first file-like argument of a strace line: a -y annotated fd (<...>), or a quoted path. */
function firstTarget(args: string): string {
  const fd = /^-?\d+<([^>]*)>/.exec(args);
  if (fd?.[1] !== undefined) return fileKind(fd[1]);
  const quoted = /"([^"]*)"/.exec(args);
  if (quoted?.[1] !== undefined) return fileKind(quoted[1]);
  return '';
}

const sinkTool = await findTool('smtp-sink');
const dns = await startDnsServer();
seedBenchDns(dns);
const code = await prepareRelayCode(relayRepo);
const relayOptions = await measuredRelayOptions(code, relayRepo, dns.address);
const traceDir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-fs-calls-'));
try {
  const sink = await startSink(sinkTool);
  const relay = await startRelayChild({ ...relayOptions, sinkPort: sink.port });
  try {
    const delivered = (count: number) => sinkReaches(sink, count, 120_000);
    await sendPipelined(relay.smtpPort, { count: WARM_UP, first: 0, sessions, tag: 'fs' });
    if (!(await delivered(WARM_UP))) throw new Error('the warm-up was not delivered within 120 s');
    // Let the warm-up's done marks and removals settle before counting.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const log = path.join(traceDir, 'trace');
    const filter = values.all ? [] : ['--seccomp-bpf', '-e', `trace=${FS_CALLS}`];
    const tracer = spawn('strace', ['-f', '-qq', '-y', '-s', '200', '-e', 'signal=none', ...filter, '-o', log, '-p', String(relay.pid)], { stdio: 'ignore' });
    await new Promise((resolve) => setTimeout(resolve, 1000)); // attached to every thread
    await sendPipelined(relay.smtpPort, { count: messages, first: WARM_UP, sessions, tag: 'fs' });
    if (!(await delivered(WARM_UP + messages))) throw new Error('not all messages were delivered within 120 s of the last accept');
    await new Promise((resolve) => setTimeout(resolve, 500)); // the last done marks (20 ms linger)
    const gone = new Promise((resolve) => tracer.once('exit', resolve));
    tracer.kill('SIGINT');
    await gone;
    const got = (await sink.count()).messages - WARM_UP;
    if (got !== messages) throw new Error(`delivered ${got} of ${messages}`);

    // tid -> syscall -> target -> count
    const calls = new Map<number, Map<string, number>>();
    const perThread = new Map<number, Set<string>>();
    const lines = readline.createInterface({ input: createReadStream(log) });
    const pending = new Map<number, string>();
    for await (const line of lines) {
      const m = /^(\d+) +(.*)$/.exec(line);
      if (!m) continue;
      const tid = Number(m[1]);
      let rest = m[2] ?? '';
      if (rest.startsWith('<... ')) {
        const head = pending.get(tid);
        if (head === undefined) continue;
        pending.delete(tid);
        rest = head;
      } else if (rest.endsWith('<unfinished ...>')) {
        pending.set(tid, rest);
        continue;
      }
      const call = /^([a-z0-9_]+)\((.*)$/.exec(rest);
      if (!call) continue;
      const name = call[1] as string;
      const key = `${name}\t${firstTarget(call[2] ?? '')}`;
      const byKey = calls.get(tid) ?? new Map<string, number>();
      byKey.set(key, (byKey.get(key) ?? 0) + 1);
      calls.set(tid, byKey);
      const names = perThread.get(tid) ?? new Set<string>();
      names.add(name);
      names.add(`target:${firstTarget(call[2] ?? '')}`);
      perThread.set(tid, names);
    }
    // Thread roles: the process id is the main thread; the other thread with an event loop
    // (epoll_wait) and socket traffic is the delivery worker; threads that touch files are libuv's pool.
    const role = (tid: number): string => {
      if (tid === relay.pid) return 'main';
      const seen = perThread.get(tid) ?? new Set();
      if (seen.has('target:socket')) return 'worker';
      if ([...seen].some((t) => t.startsWith('target:') && t !== 'target:')) return 'fs pool';
      return 'other';
    };
    const totals = new Map<string, number>();
    for (const [tid, byKey] of calls) {
      for (const [key, count] of byKey) {
        const k = `${role(tid)}\t${key}`;
        totals.set(k, (totals.get(k) ?? 0) + count);
      }
    }
    const rows = [...totals].sort((a, b) => b[1] - a[1]).filter(([k, n]) => values.raw || (n / messages >= 0.005 && !/\t(futex|epoll_wait|epoll_pwait|madvise|mprotect|munmap|mmap|getpid|sched_yield)\t/.test(k)));
    console.log(`${messages} messages accepted and delivered (${code.note}); calls per message, by thread, call and file:`);
    for (const [k, n] of rows) {
      const [who, name, target] = k.split('\t');
      console.log(`  ${(n / messages).toFixed(3).padStart(8)}  ${(who ?? '').padEnd(8)} ${(name ?? '').padEnd(14)} ${target ?? ''}`);
    }
    const sum = (test: (who: string, name: string, target: string) => boolean) => {
      let n = 0;
      for (const [k, count] of totals) {
        const [who, name, target] = k.split('\t');
        if (test(who ?? '', name ?? '', target ?? '')) n += count;
      }
      return (n / messages).toFixed(3);
    };
    const spoolOrFiles = (target: string) => target.startsWith('spool');
    console.log(`spool calls per message (any thread, on spool files and directories): ${sum((_w, _n, t) => spoolOrFiles(t))}`);
    console.log(`fs pool calls per message (all): ${sum((w, n) => w === 'fs pool' && n !== 'futex')}; futex in the pool: ${sum((w, n) => w === 'fs pool' && n === 'futex')}`);
    console.log(`all calls per message: main ${sum((w) => w === 'main')}, worker ${sum((w) => w === 'worker')}, fs pool ${sum((w) => w === 'fs pool')}, other ${sum((w) => w === 'other')}`);

    // The same load untraced: CPU per message by the roles the trace gave each thread
    // (threads it never saw make no file calls: V8's helpers).
    const poolTids = [...calls.keys()].filter((tid) => role(tid) === 'fs pool');
    const perf = values.perf ? spawn('perf', ['record', '-g', '-o', values.perf, '-t', poolTids.join(',')], { stdio: 'ignore' }) : undefined;
    if (perf) await new Promise((resolve) => setTimeout(resolve, 500));
    const countsFile = path.join(traceDir, 'perf-stat');
    const counting = spawn('perf', ['stat', '--per-thread', '-x', ',', '-o', countsFile, '-e', COUNTED.map((c) => (c === 'all' ? 'raw_syscalls:sys_enter' : `syscalls:sys_enter_${c}`)).join(','), '-p', String(relay.pid)], { stdio: 'ignore' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = await threadCpu(relay.pid);
    const started = process.hrtime.bigint();
    await sendPipelined(relay.smtpPort, { count: messages, first: WARM_UP + messages, sessions, tag: 'fs' });
    if (!(await delivered(WARM_UP + 2 * messages))) throw new Error('not all untraced messages were delivered within 120 s of the last accept');
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const after = await threadCpu(relay.pid);
    for (const child of [perf, counting]) {
      if (!child) continue;
      const stopped = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      await stopped;
    }
    // perf stat counts with the kernel's tracepoints, without stopping the relay: the untraced figure.
    const counted = new Map<string, number>();
    for (const line of (await readFile(countsFile, 'utf8')).split('\n')) {
      const m = /^[^,]*-(\d+),(\d+),[^,]*,(?:raw_syscalls:sys_enter|syscalls:sys_enter_([a-z0-9_]+)),/.exec(line);
      if (!m) continue;
      const tid = Number(m[1]);
      const key = `${calls.has(tid) ? role(tid) : 'other'}\t${m[3] ?? 'all'}`;
      counted.set(key, (counted.get(key) ?? 0) + Number(m[2]));
    }
    console.log('untraced, calls per message by thread role (perf stat, kernel tracepoints):');
    for (const who of ['main', 'worker', 'fs pool', 'other']) {
      const row = COUNTED.map((c) => [c, (counted.get(`${who}\t${c}`) ?? 0) / messages] as const).filter(([, n]) => n >= 0.0005);
      if (row.length > 0) console.log(`  ${who.padEnd(8)} ${row.map(([c, n]) => `${c} ${n.toFixed(3)}`).join(', ')}`);
    }
    const cpu = new Map<string, { ms: number; threads: number }>();
    for (const [tid, ms] of after) {
      const used = (ms - (before.get(tid) ?? 0)) / messages;
      const who = calls.has(tid) ? role(tid) : 'other';
      const entry = cpu.get(who) ?? { ms: 0, threads: 0 };
      entry.ms += used;
      entry.threads++;
      cpu.set(who, entry);
    }
    console.log(`untraced, ${Math.round(messages / seconds)} msgs/s: CPU ms per message by thread role: ${[...cpu].map(([who, e]) => `${who} ${e.ms.toFixed(3)} (${e.threads} threads)`).join(', ')}`);
    // Each thread, as bench/thread-cpu.ts lists them, with the role the trace gave it.
    const threads = [...after].map(([tid, ms]) => ({ who: calls.has(tid) ? role(tid) : 'other', ms: (ms - (before.get(tid) ?? 0)) / messages })).filter((x) => x.ms > 0);
    console.log(`  threads (ms per message, busiest first): ${threads.sort((a, b) => b.ms - a.ms).map((x) => `${x.ms.toFixed(3)} ${x.who}`).join(', ')}`);
  } finally {
    await relay.stop();
    await sink.stop();
  }
} finally {
  await dns.close();
  await rm(traceDir, { recursive: true, force: true });
}

// Postfix's test programs as the load generator and the upstream: smtp-source
// (a C SMTP client, -s sessions in parallel) and smtp-sink (a C SMTP server
// that takes mail and, with -D, appends every transaction to one dump file).
// Both come with `apt-get install postfix`; no Postfix daemon is started.
// The dump lives on /dev/shm when it exists, so counting what arrived costs
// the sink a memory copy, not a disk write, on the direct and relayed paths alike.
import { spawn, type ChildProcess } from 'node:child_process';
import { access, chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { constants, createReadStream } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pollUntil } from './stats.ts';

const SBIN = ['/usr/sbin', '/usr/bin', '/usr/local/sbin'];

export async function findTool(name: 'smtp-source' | 'smtp-sink'): Promise<string> {
  for (const dir of SBIN) {
    const candidate = path.join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  throw new Error(`${name} not found in ${SBIN.join(', ')}: install it with "apt-get install -y postfix" (no daemon needed)`);
}

/** A port that was free a moment ago on 127.0.0.1 (for programs that cannot bind port 0). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface Sink {
  readonly port: number;
  readonly dumpFile: string;
  /** Transactions in the dump and distinct recipients among them. */
  count(): Promise<{ messages: number; distinctRecipients: number; bytes: number }>;
  /** smtp-sink's CPU seconds so far (user + system); 0 once it has exited. */
  cpuSeconds(): Promise<number>;
  stop(): Promise<void>;
}

/** Whether the sink's dump holds at least `count` transactions within `timeoutMs`, asked every `intervalMs`. */
export async function sinkReaches(sink: Pick<Sink, 'count'>, count: number, timeoutMs: number, intervalMs = 20): Promise<boolean> {
  return (await pollUntil(async () => ((await sink.count()).messages >= count ? true : undefined), timeoutMs, intervalMs)) === true;
}

/** smtp-sink on 127.0.0.1, dumping every transaction; `-u nobody` when we are root (it insists). */
export async function startSink(binary: string): Promise<Sink> {
  const shm = await access('/dev/shm', constants.W_OK).then(() => '/dev/shm', () => os.tmpdir());
  const dir = await mkdtemp(path.join(shm, 'relayguard-sink-'));
  await chmod(dir, 0o777); // the sink writes as nobody
  const dumpFile = path.join(dir, 'dump');
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const args = [...(process.getuid?.() === 0 ? ['-u', 'nobody'] : []), '-D', dumpFile, `127.0.0.1:${port}`, '1024'];
    const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
    let exited = false;
    child.once('exit', () => void (exited = true));
    for (let i = 0; i < 100 && !exited; i++) {
      if (await canConnect(port)) return sinkHandle(child, port, dir, dumpFile);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill('SIGKILL');
    if (!exited && attempt === 4) throw new Error(`smtp-sink did not start: ${stderr}`);
  }
  throw new Error('smtp-sink could not bind a port');
}

/** Fields of /proc/PID/stat after the command name (field 3 is index 0). */
async function procStat(pid: number | 'self'): Promise<string[]> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** USER_HZ: /proc counts CPU time in 1/100 s on every Linux architecture Node runs on. */
const TICKS = 100;

/** CPU seconds (user + system, all threads) of a running process. */
export async function processCpuSeconds(pid: number): Promise<number> {
  const fields = await procStat(pid);
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** CPU seconds of this process's children that have exited and been reaped. */
async function reapedChildrenCpuSeconds(): Promise<number> {
  const fields = await procStat('self');
  return (Number(fields[13]) + Number(fields[14])) / TICKS;
}

function sinkHandle(child: ChildProcess, port: number, dir: string, dumpFile: string): Sink {
  return {
    port,
    dumpFile,
    cpuSeconds: () => (child.pid === undefined || child.exitCode !== null ? Promise.resolve(0) : processCpuSeconds(child.pid)),
    count: () => countDump(dumpFile),
    async stop() {
      if (child.exitCode === null) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 2000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Counts transactions (X-Mail-Args records) and distinct X-Rcpt-Args in a smtp-sink -D dump. */
export async function countDump(file: string): Promise<{ messages: number; distinctRecipients: number; bytes: number }> {
  const recipients = new Set<string>();
  let messages = 0;
  const bytes = await stat(file).then((s) => s.size, () => 0);
  if (bytes === 0) return { messages, distinctRecipients: 0, bytes };
  let carry = '';
  for await (const chunk of createReadStream(file, { encoding: 'latin1', highWaterMark: 1 << 20 })) {
    const lines = (carry + (chunk as string)).split('\n');
    carry = lines.pop() ?? '';
    for (const line of lines) {
      if (line.charCodeAt(0) !== 88 /* X */) continue;
      if (line.startsWith('X-Mail-Args: ')) messages++;
      else if (line.startsWith('X-Rcpt-Args: ')) recipients.add(line.slice(13));
    }
  }
  return { messages, distinctRecipients: recipients.size, bytes };
}

export interface SourceRun {
  readonly seconds: number;
  /**
   * smtp-source's CPU seconds (user + system): what this process's reaped
   * children used while it ran (/proc/self/stat cutime + cstime). Exact when
   * no other child of the bench exits during the run, which the bench keeps.
   */
  readonly cpuSeconds: number;
  readonly ok: boolean;
  readonly stderr: string;
}

export interface SourceOptions {
  readonly port: number;
  readonly messages: number;
  readonly sessions: number;
  readonly payloadBytes: number;
  readonly sender: string;
  /** -N makes each recipient unique: <N><recipient>. */
  readonly recipient: string;
  readonly helo: string;
  /** -d: several messages per connection instead of one connection per message. */
  readonly reuseConnections?: boolean;
  readonly timeoutMs: number;
}

/** Runs smtp-source to completion (bounded by timeoutMs); any non-2xx reply makes it fail. */
export async function runSource(binary: string, options: SourceOptions): Promise<SourceRun> {
  const args = [
    '-s', String(options.sessions),
    '-m', String(options.messages),
    '-l', String(options.payloadBytes),
    '-N',
    '-f', options.sender,
    '-t', options.recipient,
    '-M', options.helo,
    ...(options.reuseConnections ? ['-d'] : []),
    `127.0.0.1:${options.port}`,
  ];
  const started = process.hrtime.bigint();
  const childrenBefore = await reapedChildrenCpuSeconds();
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuSeconds = (await reapedChildrenCpuSeconds()) - childrenBefore;
  return { seconds, cpuSeconds, ok: code === 0, stderr: stderr.trim().slice(0, 2000) };
}

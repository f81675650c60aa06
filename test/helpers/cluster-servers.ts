// Real redis-server and haproxy processes for the cluster tests (npm run
// test:cluster), on loopback ports picked at run time. redis-server cannot
// listen on port 0, so a free port is found by binding a socket to port 0 and
// closing it; a start that loses that race is retried on another port.
// Every process is killed by stop() (the tests call it in t.after); nothing
// here depends on a system-wide Redis or HAProxy service.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from './wait-for.ts';

/** Binaries (override with REDIS_SERVER=valkey-server, HAPROXY=...); Debian puts haproxy in /usr/sbin, not always on PATH. */
const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';
const HAPROXY = process.env.HAPROXY ?? (existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy');

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on host:port (bounded). */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 10_000, alive: () => boolean = () => true): Promise<void> {
  await waitFor(
    async () => {
      if (!alive()) throw new Error(`the process for ${host}:${port} exited`);
      return new Promise<boolean>((resolve) => {
        const socket = net.connect({ host, port }, () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
    },
    timeoutMs,
    `something listening on ${host}:${port}`,
    50,
  );
}

interface Managed {
  readonly child: ChildProcess;
  readonly output: string[];
  exited: boolean;
}

function launch(command: string, args: readonly string[]): Managed {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const managed: Managed = { child, output: [], exited: false };
  const keep = (chunk: Buffer): void => {
    managed.output.push(chunk.toString('utf8'));
    if (managed.output.length > 200) managed.output.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('exit', () => {
    managed.exited = true;
  });
  child.on('error', (error) => {
    managed.exited = true;
    managed.output.push(String(error));
  });
  return managed;
}

async function terminate(managed: Managed | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!managed || managed.exited) return;
  const exited = new Promise<void>((resolve) => managed.child.once('exit', () => resolve()));
  managed.child.kill(signal);
  const timer = setTimeout(() => managed.child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export interface RedisServer {
  readonly port: number;
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  /** Stops the server (SIGTERM; nothing is saved). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** SIGSTOP / SIGCONT: a server that hangs with its connections open. */
  pause(): void;
  resume(): void;
  /** Stops it for good and removes its directory. */
  close(): Promise<void>;
}

export async function startRedisServer(): Promise<RedisServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-redis-'));
  let current: Managed | undefined;
  let port = 0;
  const run = async (): Promise<void> => {
    current = launch(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no']);
    const started = current;
    await waitForPort(port, '127.0.0.1', 10_000, () => !started.exited);
  };
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    port = await freePort();
    try {
      await run();
      lastError = undefined;
      break;
    } catch (error) {
      lastError = error;
      await terminate(current);
    }
  }
  if (lastError) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`redis-server did not start: ${String(lastError)}\n${current?.output.join('')}`);
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop: () => terminate(current),
    start: run,
    pause: () => current?.child.kill('SIGSTOP'),
    resume: () => current?.child.kill('SIGCONT'),
    async close() {
      if (current && !current.exited) current.child.kill('SIGCONT');
      await terminate(current);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface HaproxyServer {
  readonly port: number;
  /** The generated configuration, for failure messages. */
  readonly config: string;
  /** "show stat" on the stats socket: one record per frontend, backend and server. */
  stats(): Promise<Array<Record<string, string>>>;
  close(): Promise<void>;
}

/** A relay behind HAProxy: its SMTP listener, and its dashboard for the /healthz check. */
export interface HaproxyBackend {
  readonly smtp: number;
  readonly http: number;
}

/**
 * HAProxy in TCP mode on 127.0.0.1:free port, round robin over `backends`
 * (127.0.0.1 ports) with send-proxy-v2 and a /healthz check: the
 * configuration the README shows, on test ports.
 */
export async function startHaproxy(backends: readonly HaproxyBackend[]): Promise<HaproxyServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-haproxy-'));
  const file = path.join(dir, 'haproxy.cfg');
  const socket = path.join(dir, 'stats.sock');
  let managed: Managed | undefined;
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const config = haproxyConfig(port, backends, socket);
    await writeFile(file, config);
    managed = launch(HAPROXY, ['-f', file, '-db']);
    const started = managed;
    try {
      await waitForPort(port, '127.0.0.1', 10_000, () => !started.exited);
      // The stats socket may appear a moment after the port listens: ready means both.
      await waitFor(() => existsSync(socket), 5000, `haproxy (listening on ${port}) to create its stats socket ${socket}`);
      return {
        port,
        config,
        stats: () => showStat(socket),
        async close() {
          await terminate(started);
          await rm(dir, { recursive: true, force: true });
        },
      };
    } catch (error) {
      lastError = error;
      await terminate(managed);
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`haproxy did not start: ${String(lastError)}\n${managed?.output.join('')}`);
}

/** Reads "show stat" (CSV) from the stats socket. */
function showStat(socketPath: string): Promise<Array<Record<string, string>>> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath, () => socket.end('show stat\n'));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const [header, ...rows] = text.trim().split('\n');
      const names = (header ?? '').replace(/^# /, '').split(',');
      resolve(rows.map((row) => Object.fromEntries(row.split(',').map((value, i) => [names[i] ?? String(i), value]))));
    });
  });
}

export function haproxyConfig(port: number, backends: readonly HaproxyBackend[], statsSocket: string): string {
  return `global
    maxconn 256
    stats socket ${statsSocket} mode 600 level user

defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend smtp
    bind 127.0.0.1:${port}
    default_backend relayguard

backend relayguard
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server send-proxy-v2 inter 500ms fall 3 rise 2
${backends.map((backend, i) => `    server relay${i + 1} 127.0.0.1:${backend.smtp} check port ${backend.http}`).join('\n')}
`;
}

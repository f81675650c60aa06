// Delivery and spool benchmark (issue 7 / issue 10 figures). Run:
//   node --import tsx bench/delivery.ts [--messages 10000] [--size 1024] [--accept-concurrency 50] [--spooled 100000]
// Sink: Postfix's smtp-sink when installed (apt-get install postfix), else a
// minimal smtp-server sink; always in its own process, on a loopback port.
// Prints a table and writes bench/work/delivery-results.json. Figures are ratios
// against baselines measured in the same run:
//   accept:   spool.accept (fsync + group commit) vs the same files written without any fsync
//   delivery: queue runner (spool -> smarthost) vs nodemailer sending the same messages
//             straight from memory over the same number of reused connections
//   memory:   RSS/heap of a fresh process holding a spool of --spooled messages, while the
//             runner works through it with the upstream down, then delivering all of it
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, open, rename, rm, mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { validateConfigText } from '../src/config/load-config.ts';
import type { Config } from '../src/config/schema.ts';
import { startQueueRunner } from '../src/delivery/queue-runner.ts';
import { silentLogger } from '../src/log/logger.ts';
import { openSpool, type Spool } from '../src/spool/spool.ts';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(String(process.argv[i]).replace(/^--/, ''), String(process.argv[i + 1]));
const N = Number(args.get('messages') ?? 10_000);
const SIZE = Number(args.get('size') ?? 1024);
const ACCEPT_CONCURRENCY = Number(args.get('accept-concurrency') ?? 50);
const SPOOLED = Number(args.get('spooled') ?? 100_000);
const here = path.dirname(fileURLToPath(import.meta.url));
const logger = silentLogger();

function message(i: number): Buffer {
  const head = `From: <bench@sender.test>\r\nTo: <rcpt@dest.test>\r\nSubject: bench ${i}\r\nMessage-ID: <${i}.${Date.now()}@sender.test>\r\n\r\n`;
  const line = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n';
  let body = '';
  while (head.length + body.length + line.length <= SIZE) body += line;
  return Buffer.from(head + body + 'x'.repeat(Math.max(0, SIZE - head.length - body.length - 2)) + '\r\n');
}

const envelopeFor = () => ({ sender: 'bench@sender.test', recipients: ['rcpt@dest.test'], clientIp: '127.0.0.1', helo: 'bench', listener: 'mx', receivedAt: Date.now() });

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

async function startSink(): Promise<{ address: string; kind: string; child: ChildProcess }> {
  const port = await freePort();
  const postfix = ['/usr/sbin/smtp-sink', '/usr/bin/smtp-sink'].find((p) => existsSync(p));
  const child = postfix
    ? spawn(postfix, ['-u', os.userInfo().username === 'root' ? 'nobody' : os.userInfo().username, `127.0.0.1:${port}`, '1024'], { stdio: 'ignore' })
    : spawn(process.execPath, ['--import', 'tsx', path.join(here, 'delivery-sink.ts'), String(port)], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
      socket.on('error', () => resolve(false));
    });
    if (up) return { address: `127.0.0.1:${port}`, kind: postfix ? 'postfix smtp-sink' : 'smtp-server sink', child };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('sink did not start');
}

function config(dir: string, sink: string, concurrency: number): Config {
  const text = `hostname = "bench.test"\ndata_dir = "${dir}"\n[[listeners]]\naddress = "127.0.0.1:0"\nrole = "mx"\n[delivery]\nmode = "smarthost"\nconcurrency = ${concurrency}\nper_destination_concurrency = ${concurrency}\nretry_schedule = ["1h"]\n[delivery.smarthost]\nhosts = ["${sink}"]\ntls = "none"\n`;
  const result = validateConfigText(path.join(dir, 'config.toml'), text);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.value;
}

async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await task(next++);
  }));
}

async function acceptAll(spool: Spool, count: number): Promise<number> {
  const bodies = Array.from({ length: 64 }, (_, i) => message(i));
  const start = performance.now();
  await pool(count, ACCEPT_CONCURRENCY, (i) => spool.accept(envelopeFor(), bodies[i % 64] as Buffer));
  return count / ((performance.now() - start) / 1000);
}

async function acceptWithoutFsync(dir: string, count: number): Promise<number> {
  await mkdir(path.join(dir, 'q'), { recursive: true });
  const bodies = Array.from({ length: 64 }, (_, i) => message(i));
  const header = Buffer.from(`RGSPOOL1 ${JSON.stringify(envelopeFor())}\n`);
  const start = performance.now();
  await pool(count, ACCEPT_CONCURRENCY, async (i) => {
    const tmp = path.join(dir, `${i}.tmp`);
    const handle = await open(tmp, 'wx');
    await handle.writev([header, bodies[i % 64] as Buffer]);
    await handle.close();
    await rename(tmp, path.join(dir, 'q', `${i}.msg`));
  });
  return count / ((performance.now() - start) / 1000);
}

async function deliverAll(spool: Spool, cfg: Config, count: number): Promise<number> {
  const start = performance.now();
  const runner = startQueueRunner({ spool, config: cfg, logger, control: false });
  while (spool.stats().size > 0) {
    if (performance.now() - start > 600_000) throw new Error('delivery did not finish in 10 minutes');
    await new Promise((r) => setTimeout(r, 5));
  }
  const rate = count / ((performance.now() - start) / 1000);
  const stats = runner.stats();
  await runner.stop(5000);
  if (stats.delivered !== count) throw new Error(`delivered ${stats.delivered} of ${count}`);
  return rate;
}

async function direct(sink: string, count: number, connections: number): Promise<number> {
  const [host, port] = sink.split(':') as [string, string];
  const bodies = Array.from({ length: 64 }, (_, i) => message(i));
  const start = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: connections }, async () => {
    const conn = new SMTPConnection({ host, port: Number(port), ignoreTLS: true, name: 'bench.test', logger: false });
    await new Promise<void>((resolve, reject) => {
      conn.once('error', reject);
      conn.connect(() => resolve());
    });
    while (next < count) {
      const i = next++;
      await new Promise<void>((resolve, reject) =>
        conn.send({ from: 'bench@sender.test', to: ['rcpt@dest.test'] }, bodies[i % 64] as Buffer, (err) => (err ? reject(err) : resolve())),
      );
    }
    conn.quit();
  }));
  return count / ((performance.now() - start) / 1000);
}

const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/** Child mode: hold a big spool and report memory. */
async function memoryChild(dir: string, sink: string): Promise<void> {
  const report: Record<string, number> = {};
  const sample = (name: string) => {
    globalThis.gc?.();
    const m = process.memoryUsage();
    report[`${name}.rssMiB`] = mib(m.rss);
    report[`${name}.heapMiB`] = mib(m.heapUsed);
  };
  sample('empty');
  const scanStart = performance.now();
  const spool = await openSpool({ dir, logger });
  report['scanSeconds'] = Math.round((performance.now() - scanStart) / 100) / 10;
  report['spooled'] = spool.stats().size;
  sample('afterScan');
  // Upstream down: the runner streams every message from disk, defers it, records the journal.
  const cfgDown = config(dir, '127.0.0.1:9', 20);
  const down = startQueueRunner({ spool, config: { ...cfgDown, delivery: { ...cfgDown.delivery, connect_timeout: 1000 } }, logger, control: false });
  let peak = 0;
  const until = performance.now() + 10_000;
  while (performance.now() < until) {
    await new Promise((r) => setTimeout(r, 250));
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  report['upstreamDown.deferredIn10s'] = down.stats().deferred;
  report['upstreamDown.peakRssMiB'] = mib(peak);
  await down.stop(2000);
  sample('afterDeferrals');
  // Upstream back: retry everything now and deliver it all from disk.
  const cfg = config(dir, sink, 20);
  const start = performance.now();
  const up = startQueueRunner({ spool, config: cfg, logger, control: false });
  await up.retry();
  let peakUp = 0;
  while (spool.stats().size > 0) {
    await new Promise((r) => setTimeout(r, 100));
    peakUp = Math.max(peakUp, process.memoryUsage().rss);
    if (performance.now() - start > 900_000) break;
  }
  report['fromDisk.deliveredPerSecond'] = Math.round(up.stats().delivered / ((performance.now() - start) / 1000));
  report['fromDisk.delivered'] = up.stats().delivered;
  report['fromDisk.peakRssMiB'] = mib(peakUp);
  await up.stop(2000);
  await spool.close();
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

async function main(): Promise<void> {
  if (args.get('child') === 'memory') return memoryChild(args.get('dir') as string, args.get('sink') as string);
  const sink = await startSink();
  const root = await mkdtemp(path.join(os.tmpdir(), 'rg-bench-delivery-'));
  const results: Record<string, unknown> = { machine: { cpus: os.cpus().length, node: process.version, threadpool: Number(process.env.UV_THREADPOOL_SIZE ?? 4) }, sink: sink.kind, messages: N, size: SIZE };
  try {
    const concurrency = 20;
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    // Rounds interleave baseline and candidate (this machine is shared and noisy); round 0 is a
    // warm-up (JIT, first directory creation) and is not counted.
    const rounds = Number(args.get('rounds') ?? 3);
    const noFsync: number[] = [];
    const durable: number[] = [];
    const directRates: number[] = [];
    const firstAttempt: number[] = [];
    const fromDisk: number[] = [];
    for (let round = 0; round <= rounds; round++) {
      const count = round === 0 ? Math.min(N, 1000) : N;
      const nf = await acceptWithoutFsync(path.join(root, `b${round}`), count);
      const dir = path.join(root, `a${round}`);
      const spool = await openSpool({ dir, logger });
      const acc = await acceptAll(spool, count);
      const d = await direct(sink.address, count, concurrency);
      const first = await deliverAll(spool, config(dir, sink.address, concurrency), count);
      await acceptAll(spool, count);
      await spool.close();
      const reopened = await openSpool({ dir, logger });
      const disk = await deliverAll(reopened, config(dir, sink.address, concurrency), count);
      await reopened.close();
      if (round === 0) continue;
      noFsync.push(nf);
      durable.push(acc);
      directRates.push(d);
      firstAttempt.push(first);
      fromDisk.push(disk);
    }
    const acceptRate = median(durable);
    const noFsyncRate = median(noFsync);
    const baselineDelivery = median(directRates);
    const cachedRate = median(firstAttempt);
    const diskRate = median(fromDisk);
    Object.assign(results, {
      accept: { concurrency: ACCEPT_CONCURRENCY, durablePerSecond: Math.round(acceptRate), noFsyncPerSecond: Math.round(noFsyncRate), ratio: +(acceptRate / noFsyncRate).toFixed(2) },
      delivery: {
        connections: concurrency,
        directPerSecond: Math.round(baselineDelivery),
        relayFirstAttemptPerSecond: Math.round(cachedRate),
        relayFromDiskPerSecond: Math.round(diskRate),
        ratioFirstAttempt: +(cachedRate / baselineDelivery).toFixed(2),
        ratioFromDisk: +(diskRate / baselineDelivery).toFixed(2),
      },
    });

    if (SPOOLED > 0) {
      const dirM = path.join(root, 'm');
      const big = await openSpool({ dir: dirM, logger });
      const start = performance.now();
      await acceptAll(big, SPOOLED);
      const fillSeconds = (performance.now() - start) / 1000;
      await big.close();
      const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--child', 'memory', '--dir', dirM, '--sink', sink.address], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      await new Promise((resolve) => child.once('exit', resolve));
      results['memory'] = { spooled: SPOOLED, fillSeconds: Math.round(fillSeconds), ...(JSON.parse(out.trim().split('\n').pop() || '{}') as object) };
    }
  } finally {
    sink.child.kill('SIGTERM');
    await rm(root, { recursive: true, force: true });
  }
  console.table(Object.fromEntries(Object.entries(results).filter(([, v]) => typeof v === 'object')));
  console.log(JSON.stringify(results, null, 2));
  await mkdir(path.join(here, 'work'), { recursive: true });
  await writeFile(path.join(here, 'work', 'delivery-results.json'), `${JSON.stringify(results, null, 2)}\n`);
}

await main();

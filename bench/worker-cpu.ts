// The delivery worker's own work per delivered message, in one process:
// the in-process deliverer (what delivery-worker.ts runs) of one or more
// checkouts sends 1 KiB messages to Postfix's smtp-sink (its own process, so
// its CPU is not counted) over reused connections at the relay's delivery
// concurrency, with the attempt log line formatted as in the worker. The
// versions are ALTERNATED in rounds in the same process, so load on the
// machine moves them alike. Prints, per version and round, CPU per message
// (process.cpuUsage, user + system), socket writes per message (counted at
// net.Socket's _write/_writev, each one a write(2)/writev(2)), and with
// --alloc the bytes allocated per message (heap growth over a phase with no
// GC in it: run with --expose-gc --min-semi-space-size=128 --max-semi-space-size=128).
//
//   node --import tsx bench/worker-cpu.ts [--repos=DIR,DIR] [--messages=3000] [--rounds=5] [--concurrency=20]
//   node --expose-gc --min-semi-space-size=128 --max-semi-space-size=128 --import tsx bench/worker-cpu.ts --alloc --messages=1000
import net from 'node:net';
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { findTool, startSink } from './lib/postfix-tools.ts';
import { REPO } from './lib/relay-child.ts';
import type * as LoadConfig from '../src/config/load-config.ts';
import type * as InProcess from '../src/delivery/in-process-deliverer.ts';
import type * as Routing from '../src/delivery/routing.ts';
import type * as Log from '../src/log/logger.ts';

const { values } = parseArgs({
  options: {
    repos: { type: 'string' },
    messages: { type: 'string' },
    rounds: { type: 'string' },
    concurrency: { type: 'string' },
    alloc: { type: 'boolean' },
    size: { type: 'string' },
    'heap-sample': { type: 'string' },
  },
});
const repos = (values.repos ?? REPO).split(',').map((r) => path.resolve(r));
const messages = Number(values.messages ?? 3000);
const rounds = Number(values.rounds ?? 5);
const concurrency = Number(values.concurrency ?? 20);
const size = Number(values.size ?? 1024);

// Every socket write this process makes (the sink is another process).
let writes = 0;
const proto = net.Socket.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
for (const name of ['_write', '_writev']) {
  const original = proto[name] as (...args: unknown[]) => unknown;
  proto[name] = function (this: unknown, ...args: unknown[]) {
    writes++;
    return original.apply(this, args);
  };
}
let gcs = 0;
new PerformanceObserver((list) => void (gcs += list.getEntries().length)).observe({ entryTypes: ['gc'] });

function body(n: number): Buffer {
  const lines = [`From: <sender@client.example>`, `To: <measured@bench.test>`, `Subject: message ${n}`, `Message-ID: <${n}@client.example>`, ''];
  let text = `${lines.join('\r\n')}\r\n`;
  for (let i = 1; text.length < size; i++) text += `La de da de da ${i}.\r\n`; // as smtp-source writes it
  return Buffer.from(text.slice(0, size - 2) + '\r\n');
}

interface Version {
  readonly repo: string;
  deliver(n: number): Promise<unknown>;
  close(): Promise<void>;
  lines: number;
}

async function load(repo: string, sinkPort: number): Promise<Version> {
  const { createInProcessDeliverer } = (await import(path.join(repo, 'src/delivery/in-process-deliverer.ts'))) as typeof InProcess;
  const { createLogger } = (await import(path.join(repo, 'src/log/logger.ts'))) as typeof Log;
  const { validateConfigText } = (await import(path.join(repo, 'src/config/load-config.ts'))) as typeof LoadConfig;
  const { destinationFor } = (await import(path.join(repo, 'src/delivery/routing.ts'))) as typeof Routing;
  const text = `hostname = "relay.bench.test"\ndata_dir = "/tmp/unused"\n[[listeners]]\naddress = "127.0.0.1:0"\nrole = "mx"\n[delivery]\nmode = "smarthost"\nconcurrency = ${concurrency}\nper_destination_concurrency = ${concurrency}\n[delivery.smarthost]\nhosts = ["127.0.0.1:${sinkPort}"]\ntls = "opportunistic"\n`;
  const result = validateConfigText('/tmp/unused/config.toml', text);
  if (!result.ok) throw new Error(`config: ${JSON.stringify(result)}`);
  const config = result.value;
  const version: Version = { repo, lines: 0, deliver: async () => undefined, close: async () => undefined };
  // As delivery-worker.ts: a JSON line per attempt handed to a function (there, postMessage's batch).
  const logger = createLogger('info', { write: () => void version.lines++ }).child({ worker: 'delivery' });
  const deliverer = createInProcessDeliverer({ config: { hostname: config.hostname, dns: config.dns, delivery: config.delivery }, logger });
  const recipient = 'measured@bench.test';
  const destination = destinationFor(recipient, config.delivery);
  const bodies = Array.from({ length: 64 }, (_, i) => body(i));
  version.deliver = async (n) => {
    const b = bodies[n % bodies.length] as Buffer;
    const report = await deliverer.deliver({ queueId: `Q${n.toString(16).padStart(10, '0')}`, sender: 'sender@client.example', recipients: [recipient], destination, size: b.length, body: b });
    if (report.results[0]?.status !== 'delivered') throw new Error(`not delivered: ${JSON.stringify(report)}`);
  };
  version.close = () => deliverer.close();
  return version;
}

async function phase(version: Version, count: number, start: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await version.deliver(start + next++);
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

// --heap-sample=FILE: V8's sampling heap profiler over the measured rounds, collected objects included (where allocations come from).
const inspector = values['heap-sample'] ? new (await import('node:inspector')).Session() : undefined;
const post = (method: string, params?: object) =>
  new Promise<unknown>((resolve, reject) => inspector?.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result))));
inspector?.connect();

const sink = await startSink(await findTool('smtp-sink'));
const versions: Version[] = [];
for (const repo of repos) versions.push(await load(repo, sink.port));
const gc = (globalThis as { gc?: () => void }).gc;
const results = new Map<string, { cpu: number[]; writes: number[]; alloc: number[] }>();
try {
  for (const v of versions) await phase(v, 500, 0); // warm: JIT, connections
  let serial = 1000;
  if (inspector) await post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  for (let round = 0; round < rounds; round++) {
    for (const v of round % 2 === 0 ? versions : [...versions].reverse()) {
      gc?.();
      // The observer hears of that collection a little later: not during the phase.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const heapBefore = v8.getHeapStatistics().used_heap_size;
      const gcsBefore = gcs;
      const writesBefore = writes;
      const cpuBefore = process.cpuUsage();
      await phase(v, messages, serial);
      serial += messages;
      const cpu = process.cpuUsage(cpuBefore);
      const heapAfter = v8.getHeapStatistics().used_heap_size;
      await new Promise((resolve) => setTimeout(resolve, 50));
      const r = results.get(v.repo) ?? { cpu: [], writes: [], alloc: [] };
      r.cpu.push((cpu.user + cpu.system) / 1000 / messages);
      r.writes.push((writes - writesBefore) / messages);
      if (values.alloc) r.alloc.push(gcs === gcsBefore ? (heapAfter - heapBefore) / messages : NaN);
      results.set(v.repo, r);
    }
  }
  if (inspector) {
    const { profile } = (await post('HeapProfiler.stopSampling')) as { profile: unknown };
    (await import('node:fs')).writeFileSync(values['heap-sample'] as string, JSON.stringify(profile));
  }
} finally {
  for (const v of versions) await v.close();
  await sink.stop();
}
for (const [repo, r] of results) {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  console.log(`${repo}`);
  console.log(`  cpu ms/msg: ${r.cpu.map((x) => x.toFixed(4)).join(' ')}  median ${median(r.cpu).toFixed(4)}`);
  console.log(`  socket writes/msg: ${r.writes.map((x) => x.toFixed(3)).join(' ')}`);
  if (values.alloc) console.log(`  bytes allocated/msg (NaN: a GC ran): ${r.alloc.map((x) => x.toFixed(0)).join(' ')}`);
}
process.exit(0);

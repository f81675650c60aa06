// In-process micro-benchmark of the limits provider for one typical session:
// open, CONNECT, MAIL, RCPT, DATA (each gathered and decided), close, with the
// bench's limits.toml (every limit on, far above what is sent) and the counters
// the production wiring builds (createFactsRuntime's default). The client is
// not trusted, so every window counts: at connect the global and per-IP open
// counts and the connection rate, at MAIL and RCPT the per-IP and per-sender-
// domain windows. Two checkouts are compared in one process, alternated:
//
//   node --max-semi-space-size=64 --import tsx bench/limits-micro.ts --old=DIR [--new=DIR]
//        [--sessions=20000] [--rounds=6] [--clients=1]
//
// Prints this thread's CPU ns per session, bytes allocated per session (heap
// growth over small batches) and promises created per session (async_hooks,
// in a separate pass: the hook itself slows everything).
// --clients=N spreads the sessions over N client addresses (1: the bench's one
// client; 100000: a flood of distinct addresses, each a new key and window).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createHook } from 'node:async_hooks';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { threadCpuNs } from './lib/thread-cpu-stat.ts';

const { values } = parseArgs({ options: { old: { type: 'string' }, new: { type: 'string' }, sessions: { type: 'string' }, rounds: { type: 'string' }, clients: { type: 'string' } } });
const here = path.resolve(import.meta.dirname, '..');
const dirs = { old: path.resolve(values.old ?? here), new: path.resolve(values.new ?? here) };
const sessions = Number(values.sessions ?? 20_000);
const rounds = Number(values.rounds ?? 6);
const clients = Number(values.clients ?? 1);
const limitsText = readFileSync(path.join(here, 'bench', 'fixtures', 'limits.toml'), 'utf8');

type Loaded = { name: string; run: (n: number) => Promise<number> };

async function load(name: string, dir: string): Promise<Loaded> {
  const imp = (file: string) => import(pathToFileURL(path.join(dir, file)).href);
  const { testSnapshot } = await imp('test/helpers/policy-snapshot.ts');
  const { parseLimitsFile } = await imp('src/config/limits-file.ts');
  const { createFactsRuntime } = await imp('src/facts/providers.ts');
  const { silentLogger } = await imp('src/log/logger.ts');
  const { parseSender } = await imp('src/policy/address.ts');

  const parsed = parseLimitsFile('limits.toml', limitsText);
  if (!parsed.ok) throw new Error('bench limits.toml does not parse');
  // The bench client (127.0.0.1) is not in relay networks: everything counts.
  const snapshot = testSnapshot({ limits: parsed.value, relayNetworks: ['10.0.0.0/8'] });
  const runtime = createFactsRuntime(snapshot, silentLogger());
  const provider = runtime.providers.find((p: { name: string }) => p.name === 'limits');
  const listener = { ...snapshot.config.listeners[0], name: 'mx', authOffered: false };
  const sender = parseSender('<sender@sender.example>', { ourAddresses: new Set(), localDomains: new Set() });
  if (!sender.ok) throw new Error('sender does not parse');
  const permit = { verdict: 'permit', stage: 'connect', rule: 'default', reason: 'ok' };
  const dunno = { verdict: 'dunno', stage: 'mail', rule: 'mail', reason: 'ok' };
  const ips = Array.from({ length: clients }, (_, i) => (clients === 1 ? '127.0.0.1' : `100.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`));
  let next = 0;
  let sink = 0;
  const run = async (n: number): Promise<number> => {
    for (let i = 0; i < n; i++) {
      const clientIp = ips[next++ % ips.length] as string;
      const ctx: Record<string, unknown> = { listener, clientIp, helo: 'sender.example' };
      const session = provider.open(ctx, snapshot);
      const connect = await session.gather('connect', ctx);
      session.decided('connect', ctx, permit);
      ctx.sender = sender.value;
      const mail = await session.gather('mail', ctx);
      session.decided('mail', ctx, dunno);
      ctx.recipient = 'bob@example.test';
      const rcpt = await session.gather('rcpt', ctx);
      session.decided('rcpt', ctx, permit);
      const data = await session.gather('data', ctx);
      session.decided('data', ctx, dunno);
      session.close();
      sink += Object.keys(connect).length + Object.keys(mail).length + Object.keys(rcpt).length + Object.keys(data).length;
    }
    return sink;
  };
  return { name, run };
}

const a = await load('old', dirs.old);
const b = await load('new', dirs.new);
const times: Record<string, number[]> = {};
const allocated: Record<string, number[]> = {};
for (let w = 0; w < 3; w++) for (const impl of [a, b]) await impl.run(sessions);
for (let r = 0; r < rounds; r++) {
  for (const impl of r % 2 === 0 ? [a, b] : [b, a]) {
    const t0 = threadCpuNs();
    await impl.run(sessions);
    (times[impl.name] ??= []).push(Number(threadCpuNs() - t0) / sessions);
    for (let k = 0; k < 5; k++) {
      const before = process.memoryUsage().heapUsed;
      await impl.run(200);
      const grown = process.memoryUsage().heapUsed - before;
      if (grown > 0) (allocated[impl.name] ??= []).push(grown / 200);
    }
  }
}
const promises: Record<string, number> = {};
for (const impl of [a, b]) {
  let count = 0;
  const hook = createHook({ init: (_id, type) => void (type === 'PROMISE' && count++) });
  hook.enable();
  await impl.run(1000);
  hook.disable();
  promises[impl.name] = count / 1000;
}
const median = (xs: number[] = []) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? Number.NaN;
const min = (xs: number[] = []) => Math.min(...xs);
const o = times.old, n = times.new;
console.log(`clients ${clients}, sessions ${sessions} x ${rounds} rounds`);
console.log(`ns/session: old min ${min(o).toFixed(0)} median ${median(o).toFixed(0)} [${o?.map((x) => x.toFixed(0)).join(' ')}]`);
console.log(`ns/session: new min ${min(n).toFixed(0)} median ${median(n).toFixed(0)} [${n?.map((x) => x.toFixed(0)).join(' ')}]  new/old (min) ${(min(n) / min(o)).toFixed(3)}`);
console.log(`bytes/session (median of batches): old ${median(allocated.old).toFixed(0)}, new ${median(allocated.new).toFixed(0)}`);
console.log(`promises/session (incl. the bench's own awaits): old ${promises.old}, new ${promises.new}`);

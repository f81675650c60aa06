// The spool's main-thread cost per message, in process: --sessions callers
// each accept a 1 KiB message from a stream (as the front door hands it
// over), load it (as the queue runner does, from the body cache) and remove
// it (a done mark), --messages in all. The main thread's CPU is read from
// /proc (libuv's pool, which does the disk writes, is not counted), so the
// figure is the JavaScript and hand-off work the spool costs the front
// door's thread. With --base=DIR the same runs alternate with that
// checkout's spool in the same process (an A/B without a second relay).
//
//   node --import tsx bench/spool-micro.ts [--messages=20000] [--sessions=50]
//        [--rounds=5] [--base=DIR] [--dir=/dev/shm]
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { silentLogger } from '../src/log/logger.ts';
import * as ours from '../src/spool/spool.ts';

const { values } = parseArgs({ options: { messages: { type: 'string' }, sessions: { type: 'string' }, rounds: { type: 'string' }, base: { type: 'string' }, dir: { type: 'string' } } });
const messages = Number(values.messages ?? 20_000);
const sessions = Number(values.sessions ?? 50);
const rounds = Number(values.rounds ?? 5);
const root = values.dir ?? os.tmpdir();
type OpenSpool = typeof ours.openSpool;
const versions: Array<{ name: string; openSpool: OpenSpool }> = [{ name: 'this', openSpool: ours.openSpool }];
if (values.base) {
  const base = (await import(pathToFileURL(path.join(path.resolve(values.base), 'src', 'spool', 'spool.ts')).href)) as { openSpool: OpenSpool };
  versions.unshift({ name: 'base', openSpool: base.openSpool });
}

/** The main thread's CPU time in ms (user + system), from /proc: 10 ms ticks. */
async function mainThreadCpu(): Promise<number> {
  const stat = await readFile(`/proc/${process.pid}/task/${process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const body = Buffer.from(`Subject: bench\r\n\r\n${'x'.repeat(76)}\r\n`.repeat(12));
const logger = silentLogger();

async function round(openSpool: OpenSpool): Promise<number> {
  const dir = await mkdtemp(path.join(root, 'rg-spool-micro-'));
  const spool = await openSpool({ dir, logger });
  try {
    let next = 0;
    const lane = async () => {
      while (next < messages) {
        next++;
        const stream = new PassThrough();
        const accepted = spool.accept({ sender: 'sender@client.example', recipients: [`${next}@bench.test`], clientIp: '127.0.0.1', helo: 'client.example', listener: 'mx', receivedAt: Date.now(), sessionId: `s${next}` }, stream);
        stream.end(body);
        const id = await accepted;
        const loaded = await spool.load(id);
        if (!loaded?.body?.equals(body)) throw new Error(`message ${id} did not come back whole`);
        await spool.remove(id);
      }
    };
    const before = await mainThreadCpu();
    await Promise.all(Array.from({ length: sessions }, lane));
    return ((await mainThreadCpu()) - before) / messages;
  } finally {
    await spool.close();
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  }
}

const results = new Map<string, number[]>(versions.map((v) => [v.name, []]));
await round(versions[0]!.openSpool); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const version of r % 2 === 0 ? versions : [...versions].reverse()) {
    results.get(version.name)?.push(await round(version.openSpool));
  }
}
for (const [name, runs] of results) {
  const sorted = [...runs].sort((a, b) => a - b);
  console.log(`${name}: main-thread CPU per message ${runs.map((ms) => `${(ms * 1000).toFixed(1)}`).join(' ')} us (median ${((sorted[Math.floor(sorted.length / 2)] ?? 0) * 1000).toFixed(1)})`);
}

// Instructions per message, by thread: the relay (production build, every
// policy on, as `npm run bench` runs it) runs under valgrind's callgrind with
// instrumentation off, is warmed with --warm messages, then instrumentation
// is switched on (callgrind_control -i on), smtp-source sends --messages at
// --sessions, everything is delivered, and the counters are dumped. The
// instruction count does not depend on what else the machine is doing, so it
// is the A/B figure for work on the front door's thread when the wall clock
// and even the CPU time are too noisy (a shared 2-vCPU machine). Alternate
// versions with --relay-repo=DIR.
//
//   node --import tsx bench/callgrind.ts [--messages=1000] [--sessions=50]
//        [--warm=1000] [--relay-repo=DIR] [--runs=1] [--keep]
//
// --keep leaves the dump files (their directory is printed) for
// `callgrind_annotate FILE`: V8's builtins, the GC and libuv are named there,
// JavaScript compiled at run time is not.
//
// Caveats: valgrind runs one thread at a time and ~50x slower, so batching
// that depends on timing (the spool's group commit, the worker's batches)
// may differ from a native run; both sides of an A/B pay the same. Thread 1
// is the main thread; the others are listed by count (the delivery worker is
// the busiest of them).
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startDnsServer } from '../test/helpers/dns-server.ts';
import { findTool, runSource, sinkReaches, startSink } from './lib/postfix-tools.ts';
import { LOCAL_DOMAIN, REPO, SENDER_DOMAIN, measuredRelayOptions, prepareRelayCode, seedBenchDns, startRelayChild } from './lib/relay-child.ts';

const { values } = parseArgs({
  options: { messages: { type: 'string' }, sessions: { type: 'string' }, warm: { type: 'string' }, 'relay-repo': { type: 'string' }, runs: { type: 'string' }, keep: { type: 'boolean' } },
});
const messages = Number(values.messages ?? 1000);
const sessions = Number(values.sessions ?? 50);
const warm = Number(values.warm ?? 1000);
const runs = Number(values.runs ?? 1);
const relayRepo = values['relay-repo'] ? path.resolve(values['relay-repo']) : REPO;

function callgrindControl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('callgrind_control', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => void (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => void (out += chunk.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`callgrind_control ${args.join(' ')}: ${out}`))));
  });
}

/** Instructions (Ir) of each thread in the dump files of `pid` in `dir`, by valgrind's thread number. */
async function dumpedCounts(dir: string, pid: number): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for (const name of await readdir(dir)) {
    const match = new RegExp(`^cg\\.${pid}\\.\\d+-(\\d+)$`).exec(name) ?? new RegExp(`^cg\\.${pid}-(\\d+)$`).exec(name);
    if (!match) continue;
    const text = await readFile(path.join(dir, name), 'utf8');
    const total = /^(?:totals|summary): (\d+)/m.exec(text);
    if (total) counts.set(Number(match[1]), (counts.get(Number(match[1])) ?? 0) + Number(total[1]));
  }
  return counts;
}

const tools = { source: await findTool('smtp-source'), sink: await findTool('smtp-sink') };
const dns = await startDnsServer();
seedBenchDns(dns);
const code = await prepareRelayCode(relayRepo);
const relayOptions = await measuredRelayOptions(code, relayRepo, dns.address);
const source = { sender: `sender@${SENDER_DOMAIN}`, helo: SENDER_DOMAIN, payloadBytes: 1024, timeoutMs: 1_800_000 };
try {
  for (let run = 0; run < runs; run++) {
    const outDir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-callgrind-'));
    const sink = await startSink(tools.sink);
    const relay = await startRelayChild({
      ...relayOptions,
      sinkPort: sink.port,
      wrapper: [
        'valgrind',
        '--tool=callgrind',
        '--instr-atstart=no',
        '--separate-threads=yes',
        '--smc-check=all-non-file',
        `--callgrind-out-file=${path.join(outDir, 'cg.%p')}`,
        '-q',
      ],
      startTimeoutMs: 300_000,
    });
    try {
      const delivered = (count: number) => sinkReaches(sink, count, 600_000, 100);
      const warmed = await runSource(tools.source, { ...source, messages: warm, sessions, port: relay.smtpPort, recipient: `warm@${LOCAL_DOMAIN}` });
      if (!warmed.ok) throw new Error(`warm-up failed: ${warmed.stderr}`);
      if (!(await delivered(warm))) throw new Error('the warm-up was not delivered within 600 s');
      await callgrindControl(['-z', String(relay.pid)]);
      await callgrindControl(['-i', 'on', String(relay.pid)]);
      const started = process.hrtime.bigint();
      const sent = await runSource(tools.source, { ...source, messages, sessions, port: relay.smtpPort, recipient: `measured@${LOCAL_DOMAIN}` });
      if (!sent.ok) throw new Error(`smtp-source failed: ${sent.stderr}`);
      if (!(await delivered(warm + messages))) throw new Error('not all messages were delivered within 600 s of the last accept');
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      await callgrindControl(['-d', String(relay.pid)]);
      await callgrindControl(['-i', 'off', String(relay.pid)]);
      const counts = await dumpedCounts(outDir, relay.pid);
      const perMessage = [...counts].map(([thread, ir]) => ({ thread, ir: ir / messages })).filter((t) => t.ir > 0);
      const main = perMessage.find((t) => t.thread === 1)?.ir ?? 0;
      const others = perMessage.filter((t) => t.thread !== 1).sort((a, b) => b.ir - a.ir);
      const total = perMessage.reduce((sum, t) => sum + t.ir, 0);
      const k = (ir: number) => `${Math.round(ir / 1000)}k`;
      const delivery = (await sink.count()).messages;
      console.log(
        `run ${run + 1}: ${messages} x 1 KiB at ${sessions} sessions, ${delivery - warm} of ${messages} delivered, ${seconds.toFixed(0)} s under valgrind; ` +
          `instructions per message: main thread ${k(main)}, all threads ${k(total)}`,
      );
      console.log(`  other threads (per message, busiest first): ${others.map((t) => k(t.ir)).join(' ')}`);
      if (delivery - warm !== messages) throw new Error(`delivered ${delivery - warm} of ${messages}`);
    } finally {
      await relay.stop();
      await sink.stop();
      if (values.keep) console.log(`  dump files kept in ${outDir}`);
      else await rm(outDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    }
  }
} finally {
  await dns.close();
}

// Where the relay's CPU goes, by thread: the relay (production build, every
// policy on, as `npm run bench` runs it) is warmed with 2,000 messages, then
// smtp-source sends --messages at --sessions, and the CPU time of each of the
// relay's threads is read from /proc/PID/task/*/stat before and after. The
// main thread's CPU per message is the steadiest figure this machine gives
// (±3% between back-to-back runs, where msgs/s moves ±15%): the A/B measure
// for work on the front door's thread. Alternate versions with --relay-repo.
//
//   node --import tsx bench/thread-cpu.ts [--messages=10000] [--sessions=50]
//        [--relay-repo=DIR] [--runs=1] [--relay-node-args="--flag ..."] [--strace]
//
// Every run also prints the relay's context switches per message (all
// threads, from /proc/PID/task/*/status): a count the load moves little,
// and each one costs a kernel entry (two, with this machine's PTI).
// --strace counts every system call of every thread (`strace -c -f`) during
// the measured messages, per message, busiest first; strace slows the relay,
// so the CPU figures of such a run are not comparable with other runs.
//
// Threads are named by what they are: the main thread is the one whose id
// is the process id; the others (the delivery worker, V8's platform threads,
// libuv's thread pool) all call themselves "node", so they are listed by CPU.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startDnsServer } from '../test/helpers/dns-server.ts';
import { findTool, runSource, sinkReaches, startSink } from './lib/postfix-tools.ts';
import { startSyscallCount } from './lib/syscall-count.ts';
import { contextSwitches, threadCpu } from './lib/thread-cpu-stat.ts';
import { LOCAL_DOMAIN, REPO, SENDER_DOMAIN, measuredRelayOptions, prepareRelayCode, seedBenchDns, startRelayChild } from './lib/relay-child.ts';
import { WARM_UP } from './throughput.ts';

const { values } = parseArgs({ options: { messages: { type: 'string' }, sessions: { type: 'string' }, 'relay-repo': { type: 'string' }, runs: { type: 'string' }, 'relay-node-args': { type: 'string' }, strace: { type: 'boolean' } } });
const relayNodeArgs = values['relay-node-args']?.split(/\s+/).filter(Boolean) ?? [];
const messages = Number(values.messages ?? 10_000);
const sessions = Number(values.sessions ?? 50);
const runs = Number(values.runs ?? 1);
const relayRepo = values['relay-repo'] ? path.resolve(values['relay-repo']) : REPO;

const tools = { source: await findTool('smtp-source'), sink: await findTool('smtp-sink') };
const dns = await startDnsServer();
seedBenchDns(dns);
const code = await prepareRelayCode(relayRepo);
const relayOptions = await measuredRelayOptions(code, relayRepo, dns.address);
const source = { sender: `sender@${SENDER_DOMAIN}`, helo: SENDER_DOMAIN, payloadBytes: 1024, timeoutMs: 600_000 };
try {
  for (let run = 0; run < runs; run++) {
    const sink = await startSink(tools.sink);
    const relay = await startRelayChild({ ...relayOptions, sinkPort: sink.port, nodeArgs: relayNodeArgs });
    try {
      const warm = await runSource(tools.source, { ...source, messages: WARM_UP, sessions, port: relay.smtpPort, recipient: `warm@${LOCAL_DOMAIN}` });
      if (!warm.ok) throw new Error(`warm-up failed: ${warm.stderr}`);
      const delivered = (count: number) => sinkReaches(sink, count, 30_000);
      if (!(await delivered(WARM_UP))) throw new Error('the warm-up was not delivered within 30 s');
      const tracer = values.strace ? await startSyscallCount(relay.pid) : undefined;
      const switchesBefore = await contextSwitches(relay.pid);
      const before = await threadCpu(relay.pid);
      const started = process.hrtime.bigint();
      const sent = await runSource(tools.source, { ...source, messages, sessions, port: relay.smtpPort, recipient: `measured@${LOCAL_DOMAIN}` });
      if (!sent.ok) throw new Error(`smtp-source failed: ${sent.stderr}`);
      if (!(await delivered(WARM_UP + messages))) throw new Error('not all messages were delivered within 30 s of the last accept');
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const after = await threadCpu(relay.pid);
      const switches = ((await contextSwitches(relay.pid)) - switchesBefore) / messages;
      const calls = tracer
        ? [...(await tracer.stop())]
            .filter(([name, count]) => name !== 'total' && count / messages >= 0.01)
            .sort((a, b) => b[1] - a[1])
            .map(([name, count]) => `${name} ${(count / messages).toFixed(2)}`)
            .join(', ')
        : '';
      const perMessage = [...after].map(([tid, ms]) => ({ tid, ms: (ms - (before.get(tid) ?? 0)) / messages })).filter((t) => t.ms > 0);
      const main = perMessage.find((t) => t.tid === relay.pid)?.ms ?? 0;
      const others = perMessage.filter((t) => t.tid !== relay.pid).sort((a, b) => b.ms - a.ms);
      const total = perMessage.reduce((sum, t) => sum + t.ms, 0);
      console.log(`run ${run + 1}: ${Math.round(messages / seconds)} msgs/s end to end; CPU per message: main thread ${main.toFixed(3)} ms, all threads ${total.toFixed(3)} ms`);
      console.log(`  other threads (ms per message, busiest first): ${others.map((t) => t.ms.toFixed(3)).join(' ')}`);
      console.log(`  context switches per message, all threads: ${switches.toFixed(2)}`);
      if (calls) console.log(`  system calls per message, all threads: ${calls}`);
    } finally {
      await relay.stop();
      await sink.stop();
    }
  }
} finally {
  await dns.close();
}

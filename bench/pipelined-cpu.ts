// The relay's CPU per message, by thread, for a client that pipelines
// (RFC 2920) as Postfix's smtp client does: EHLO, then MAIL, RCPT and DATA
// in one group, then the message with its dot and QUIT in one more.
// smtp-source (the throughput bench's client) never pipelines, so reply
// coalescing cannot show there. The relay is the production build with
// every policy on, as `npm run bench` starts it; the client is in this
// process, --sessions connections at a time, one message per connection.
// Alternate versions with --relay-repo=DIR.
//
//   node --import tsx bench/pipelined-cpu.ts [--messages=5000] [--sessions=50]
//        [--relay-repo=DIR] [--runs=1] [--strace]
//
// --strace counts the relay's write and writev system calls (all threads,
// `strace -c -f`) during the measured messages: a count that does not move
// with the machine's load, where the CPU time does.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startDnsServer } from '../test/helpers/dns-server.ts';
import { findTool, sinkReaches, startSink } from './lib/postfix-tools.ts';
import { sendPipelined } from './lib/pipelining-client.ts';
import { startSyscallCount } from './lib/syscall-count.ts';
import { threadCpu } from './lib/thread-cpu-stat.ts';
import { REPO, measuredRelayOptions, prepareRelayCode, seedBenchDns, startRelayChild } from './lib/relay-child.ts';

const { values } = parseArgs({ options: { messages: { type: 'string' }, sessions: { type: 'string' }, 'relay-repo': { type: 'string' }, runs: { type: 'string' }, strace: { type: 'boolean' } } });
const messages = Number(values.messages ?? 5000);
const sessions = Number(values.sessions ?? 50);
const runs = Number(values.runs ?? 1);
const relayRepo = values['relay-repo'] ? path.resolve(values['relay-repo']) : REPO;
const WARM_UP = 2000;

const sinkTool = await findTool('smtp-sink');
const dns = await startDnsServer();
seedBenchDns(dns);
const code = await prepareRelayCode(relayRepo);
const relayOptions = await measuredRelayOptions(code, relayRepo, dns.address);
try {
  for (let run = 0; run < runs; run++) {
    const sink = await startSink(sinkTool);
    const relay = await startRelayChild({ ...relayOptions, sinkPort: sink.port });
    try {
      const delivered = (count: number) => sinkReaches(sink, count, 60_000);
      await sendPipelined(relay.smtpPort, { count: WARM_UP, first: 0, sessions, tag: 'pipelined' });
      if (!(await delivered(WARM_UP))) throw new Error('the warm-up was not delivered within 60 s');
      const tracer = values.strace ? await startSyscallCount(relay.pid, ['write', 'writev']) : undefined;
      const before = await threadCpu(relay.pid);
      const started = process.hrtime.bigint();
      await sendPipelined(relay.smtpPort, { count: messages, first: WARM_UP, sessions, tag: 'pipelined' });
      if (!(await delivered(WARM_UP + messages))) throw new Error('not all messages were delivered within 60 s of the last accept');
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const after = await threadCpu(relay.pid);
      const calls = tracer
        ? [...(await tracer.stop())]
            .filter(([name]) => name === 'write' || name === 'writev')
            .map(([name, count]) => `${name} ${(count / messages).toFixed(2)}`)
            .join(', ')
        : '';
      const perMessage = [...after].map(([tid, ms]) => ({ tid, ms: (ms - (before.get(tid) ?? 0)) / messages })).filter((t) => t.ms > 0);
      const main = perMessage.find((t) => t.tid === relay.pid)?.ms ?? 0;
      const total = perMessage.reduce((sum, t) => sum + t.ms, 0);
      const got = (await sink.count()).messages - WARM_UP;
      console.log(
        `run ${run + 1}: ${Math.round(messages / seconds)} msgs/s end to end, ${got} of ${messages} delivered; CPU per message: main thread ${main.toFixed(3)} ms, all threads ${total.toFixed(3)} ms${calls ? `; system calls per message: ${calls}` : ''}`,
      );
      if (got !== messages) throw new Error(`delivered ${got} of ${messages}`);
    } finally {
      await relay.stop();
      await sink.stop();
    }
  }
} finally {
  await dns.close();
}

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
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startDnsServer } from '../test/helpers/dns-server.ts';
import { findTool, startSink } from './lib/postfix-tools.ts';
import { LOCAL_DOMAIN, REPO, SENDER_DOMAIN, prepareRelayCode, seedBenchDns, startRelayChild } from './lib/relay-child.ts';

const { values } = parseArgs({ options: { messages: { type: 'string' }, sessions: { type: 'string' }, 'relay-repo': { type: 'string' }, runs: { type: 'string' }, strace: { type: 'boolean' } } });
const messages = Number(values.messages ?? 5000);
const sessions = Number(values.sessions ?? 50);
const runs = Number(values.runs ?? 1);
const relayRepo = values['relay-repo'] ? path.resolve(values['relay-repo']) : REPO;
const WARM_UP = 2000;

async function threadCpu(pid: number): Promise<Map<number, number>> {
  const cpu = new Map<number, number>();
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => '');
    if (!stat) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    cpu.set(Number(tid), (Number(fields[11]) + Number(fields[12])) * 10);
  }
  return cpu;
}

const BODY = `Subject: bench\r\n\r\n${'x'.repeat(76)}\r\n`.repeat(12);

/** One pipelined session delivering one message; resolves when the server has closed. */
function session(port: number, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let text = '';
    let step = 0;
    const timer = setTimeout(() => socket.destroy(new Error(`session ${n} timed out at step ${step}: ${text.slice(-200)}`)), 60_000);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      // Each step waits for the complete last line it expects.
      if (step === 0 && /^220 .*\r\n/m.test(text)) {
        step = 1;
        text = '';
        socket.write(`EHLO ${SENDER_DOMAIN}\r\n`);
      } else if (step === 1 && /^250 .*\r\n/m.test(text)) {
        step = 2;
        text = '';
        socket.write(`MAIL FROM:<sender@${SENDER_DOMAIN}>\r\nRCPT TO:<${n}pipelined@${LOCAL_DOMAIN}>\r\nDATA\r\n`);
      } else if (step === 2 && /^354 .*\r\n/m.test(text)) {
        if (!/^250 [^\r]*\r\n250 [^\r]*\r\n354 /.test(text)) socket.destroy(new Error(`session ${n}: ${text}`));
        step = 3;
        text = '';
        socket.write(`${BODY}.\r\nQUIT\r\n`);
      } else if (step === 3 && /^221 .*\r\n/m.test(text)) {
        if (!/^250 /.test(text)) socket.destroy(new Error(`session ${n}: ${text}`));
        step = 4;
      }
    });
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      if (step === 4) resolve();
      else reject(new Error(`session ${n} closed at step ${step}: ${text.slice(-200)}`));
    });
  });
}

async function send(port: number, count: number, first: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await session(port, first + next++);
  };
  await Promise.all(Array.from({ length: Math.min(sessions, count) }, lane));
}

const sinkTool = await findTool('smtp-sink');
const dns = await startDnsServer();
seedBenchDns(dns);
const code = await prepareRelayCode(relayRepo);
const limits = await readFile(path.join(REPO, 'bench', 'fixtures', 'limits.toml'), 'utf8');
try {
  for (let run = 0; run < runs; run++) {
    const sink = await startSink(sinkTool);
    const relay = await startRelayChild({
      run: code.run,
      relayRepo,
      dnsAddress: dns.address,
      deliveryConcurrency: 20,
      perDestinationConcurrency: 20,
      sinkPort: sink.port,
      extraPolicies: { 'limits.toml': limits },
    });
    try {
      const delivered = async (count: number) => {
        for (let i = 0; i < 60_000 / 20; i++) {
          if ((await sink.count()).messages >= count) return true;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return false;
      };
      await send(relay.smtpPort, WARM_UP, 0);
      if (!(await delivered(WARM_UP))) throw new Error('the warm-up was not delivered within 60 s');
      const traceDir = values.strace ? await mkdtemp(path.join(os.tmpdir(), 'relayguard-strace-')) : undefined;
      const tracer = traceDir
        ? spawn('strace', ['-c', '-f', '-e', 'trace=write,writev', '-o', path.join(traceDir, 'counts'), '-p', String(relay.pid)], { stdio: 'ignore' })
        : undefined;
      if (tracer) await new Promise((resolve) => setTimeout(resolve, 1000)); // attached to every thread
      const before = await threadCpu(relay.pid);
      const started = process.hrtime.bigint();
      await send(relay.smtpPort, messages, WARM_UP);
      if (!(await delivered(WARM_UP + messages))) throw new Error('not all messages were delivered within 60 s of the last accept');
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const after = await threadCpu(relay.pid);
      let calls = '';
      if (tracer && traceDir) {
        const gone = new Promise((resolve) => tracer.once('exit', resolve));
        tracer.kill('SIGINT');
        await gone;
        const table = await readFile(path.join(traceDir, 'counts'), 'utf8');
        calls = [...table.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(write|writev)$/gm)]
          .map((m) => `${m[2]} ${(Number(m[1]) / messages).toFixed(2)}`)
          .join(', ');
        await rm(traceDir, { recursive: true, force: true });
      }
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

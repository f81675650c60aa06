// The Postfix policy service (issue 18), measured in one run:
//   1. policy requests per second on one core: relayguard's policy service
//      (whole relay, every policy on) against a trivial DUNNO server, each
//      pinned to the same core (taskset), under the same closed-loop load
//      (--connections, one request in flight per connection as Postfix's
//      smtpd sends them). Each request is a new message (MAIL, RCPT and the
//      message count), from 200 client addresses on 1,000 SMTP sessions.
//   2. the latency a Postfix client sees per RCPT: a private Postfix
//      (test/helpers/postfix-instance.ts, root only) with
//      check_policy_service → relayguard, against the same Postfix without it:
//      within long sessions (--rcpts per session), and over --sessions
//      sequential short sessions from one address (connect, EHLO, MAIL, one
//      RCPT, QUIT), every one of which must get 250 (ip.max_connections is the
//      default 30: a policy session counted as open would refuse the 31st).
//   node --import tsx bench/policy-service.ts [--seconds=5] [--connections=16] [--rcpts=300] [--sessions=200] [--core=0]
// Every child (the targets, the Postfix instances) is stopped on any outcome;
// a target also exits when the bench's end closes its stdin.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { startDnsServer } from '../test/helpers/dns-server.ts';
import { startSmtpSink } from '../test/helpers/smtp-sink.ts';
import { SmtpTalk } from '../test/helpers/smtp-talk.ts';
import { postfixMissing, startPostfix } from '../test/helpers/postfix-instance.ts';
import { postfixRequest } from '../test/helpers/policy-client.ts';
import { REPO, seedBenchDns } from './lib/relay-child.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    rcpts: { type: 'string', default: '300' },
    sessions: { type: 'string', default: '200' },
    core: { type: 'string', default: '0' },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const rcpts = Number(values.rcpts);
const sessions = Number(values.sessions);

interface Target {
  readonly port: number;
  stop(): Promise<void>;
}

async function startTarget(mode: 'relayguard' | 'dunno', dnsAddress: string): Promise<Target> {
  const child: ChildProcess = spawn('taskset', ['-c', values.core as string, process.execPath, '--import', 'tsx', 'bench/lib/policy-target.ts', mode, dnsAddress], {
    cwd: REPO,
    // stdin: a pipe the target watches; it exits when the bench is gone.
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const port = await new Promise<number>((resolve, reject) => {
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`${mode} target exited (${code})`)));
  });
  lines.close();
  return {
    port,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      // A target that has not gone 5 s after SIGTERM is killed: a bench never leaves one behind.
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    }),
  };
}

/** Closed loop: `connections` clients, one request in flight each, for `seconds` after a 1 s warm-up. Requests/s. */
async function load(port: number): Promise<number> {
  let counting = false;
  let answered = 0;
  let sequence = 0;
  let stop = false;
  const client = async (): Promise<void> => {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    socket.setNoDelay(true);
    socket.setEncoding('latin1');
    let buffer = '';
    let waiting: (() => void) | undefined;
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
        buffer = buffer.slice(end + 2);
        waiting?.();
      }
    });
    while (!stop) {
      const n = sequence++;
      const answered$ = new Promise<void>((resolve) => (waiting = resolve));
      socket.write(postfixRequest({
        client_address: `11.22.${Math.floor(n / 200) % 5}.${n % 200}`,
        client_port: 10_000 + (n % 1000),
        instance: `bench.${n}`,
        recipient: `user${n % 50}@bench.test`,
        sender: `sender${n % 20}@client.example`,
      }));
      await answered$;
      if (counting) answered++;
    }
    socket.destroy();
  };
  const clients = Array.from({ length: connections }, () => client());
  await new Promise((resolve) => setTimeout(resolve, 1000));
  counting = true;
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  counting = false;
  const elapsed = (performance.now() - started) / 1000;
  stop = true;
  await Promise.all(clients);
  return answered / elapsed;
}

/** Per-RCPT round trips (ms) over `count` sequential short sessions from 127.0.0.4; each RCPT must get 250. */
async function shortSessions(port: number, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let n = 0; n < count; n++) {
    const talk = await SmtpTalk.connect({ port, localAddress: '127.0.0.4', timeoutMs: 15_000 });
    try {
      await talk.read();
      await talk.command('EHLO client.example');
      await talk.command('MAIL FROM:<alice@client.example>');
      const started = performance.now();
      const reply = await talk.command(`RCPT TO:<user${n}@bench.test>`);
      times.push(performance.now() - started);
      if (reply.code !== 250) throw new Error(`session ${n + 1} of ${count}: RCPT got ${reply.lines.join(' ')}`);
      await talk.command('QUIT');
    } finally {
      talk.close();
    }
  }
  return times;
}

/** Per-RCPT round trips (ms) through a Postfix at `port`, one session, from 127.0.0.3. */
async function rcptLatencies(port: number): Promise<number[]> {
  const talk = await SmtpTalk.connect({ port, localAddress: '127.0.0.3', timeoutMs: 15_000 });
  await talk.read();
  await talk.command('EHLO client.example');
  const times: number[] = [];
  for (let round = 0; round * 250 < rcpts; round++) {
    await talk.command(`MAIL FROM:<alice@client.example>`);
    for (let i = round * 250; i < Math.min(rcpts, (round + 1) * 250); i++) {
      const started = performance.now();
      const reply = await talk.command(`RCPT TO:<user${i}@bench.test>`);
      times.push(performance.now() - started);
      if (reply.code !== 250) throw new Error(`RCPT ${i}: ${reply.lines.join(' ')}`);
    }
    await talk.command('RSET');
  }
  talk.close();
  return times;
}

const quantile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
const ms = (value: number): string => `${value.toFixed(2)} ms`;

const report = (label: string, without: number[], withPolicy: number[]): void => {
  without.sort((a, b) => a - b);
  withPolicy.sort((a, b) => a - b);
  console.log(`RCPT round trip seen by a Postfix client, ${label} (${withPolicy.length} RCPTs each):`);
  console.log(`  Postfix alone               median ${ms(quantile(without, 0.5))}  p90 ${ms(quantile(without, 0.9))}`);
  console.log(`  Postfix + relayguard policy median ${ms(quantile(withPolicy, 0.5))}  p90 ${ms(quantile(withPolicy, 0.9))}`);
  console.log(`  added per RCPT              median ${ms(quantile(withPolicy, 0.5) - quantile(without, 0.5))}`);
};

const dns = await startDnsServer();
seedBenchDns(dns);
const stops: Array<() => Promise<void>> = [];
try {
  const dunnoTarget = await startTarget('dunno', dns.address);
  stops.push(() => dunnoTarget.stop());
  const baseline = await load(dunnoTarget.port);
  await dunnoTarget.stop();
  const relayTarget = await startTarget('relayguard', dns.address);
  stops.push(() => relayTarget.stop());
  const relayguard = await load(relayTarget.port);
  console.log(`policy requests/s on core ${values.core}, ${connections} connections, ${seconds}s each:`);
  console.log(`  trivial DUNNO server  ${baseline.toFixed(0)}/s`);
  console.log(`  relayguard            ${relayguard.toFixed(0)}/s   (${((relayguard / baseline) * 100).toFixed(1)}% of the trivial server)`);

  const missing = postfixMissing();
  if (missing) {
    console.log(`RCPT latency through Postfix: not measured (${missing})`);
  } else {
    const sink = await startSmtpSink();
    stops.push(() => sink.close());
    const common = { relay_domains: 'bench.test', default_transport: `smtp:[127.0.0.1]:${sink.port}`, relay_transport: `smtp:[127.0.0.1]:${sink.port}`, smtpd_relay_restrictions: '', smtpd_recipient_limit: '10000' };
    const plain = await startPostfix({ main: { ...common, smtpd_recipient_restrictions: 'permit_mynetworks, reject_unauth_destination' } });
    stops.push(() => plain.stop());
    const policed = await startPostfix({ main: { ...common, smtpd_recipient_restrictions: `check_policy_service inet:127.0.0.1:${relayTarget.port}, permit_mynetworks, reject_unauth_destination` } });
    stops.push(() => policed.stop());
    // Alternate, so load on the shared machine hits both alike.
    const without: number[] = [];
    const withPolicy: number[] = [];
    for (let i = 0; i < 3; i++) {
      without.push(...(await rcptLatencies(plain.smtpPort)));
      withPolicy.push(...(await rcptLatencies(policed.smtpPort)));
    }
    report(`within sessions of ${rcpts}`, without, withPolicy);
    const shortWithout = await shortSessions(plain.smtpPort, sessions);
    const shortWith = await shortSessions(policed.smtpPort, sessions);
    report(`${sessions} sequential sessions from one address, all 250`, shortWithout, shortWith);
  }
} finally {
  // Newest first; each stop is bounded (a target is SIGKILLed 5 s after SIGTERM, Postfix likewise).
  for (const stop of stops.reverse()) await stop().catch((error: unknown) => console.error('bench cleanup:', error));
  await dns.close();
}

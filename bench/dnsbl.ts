// DNSBL benchmark: node --import tsx bench/dnsbl.ts
// Everything on loopback in one process: the test DNS server (optionally
// delaying answers to imitate a real resolver's round trip), smtp-server as
// the front door, nodemailer's SMTP client. Figures are ratios to a baseline
// measured in the same run, since absolute numbers depend on the machine.
//  1. lookup cost: a check answered from the cache vs a cold one (DNS query),
//     baseline = a checker with no zones (the machinery alone);
//  2. added connection latency: a whole SMTP transaction with DNSBL checks
//     started at connect (cold cache, warm cache) vs no DNSBL at all, and for
//     contrast lookups started only at RCPT and zones asked one after another.
//     "At connect" is measured twice: on the raw TCP accept, and in
//     smtp-server's onConnect, which runs only after its 100 ms early-talker
//     wait; loopback clients answer instantly, so this is the worst case;
//  3. single-flight: lookups asked for vs DNS queries sent by concurrent
//     connections from the same addresses.
// With BENCH_JSON=FILE the figures are also written to FILE (npm run bench folds them in).
import { writeFile } from 'node:fs/promises';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { startDnsServer, type TestDnsServer } from '../test/helpers/dns-server.ts';
import { policyFrom } from '../test/helpers/dnsbl-fixtures.ts';
import { createDnsResolver } from '../src/config/dns.ts';
import { DnsblChecker, type DnsblCheck } from '../src/facts/dnsbl/dnsbl-checker.ts';
import { evaluateDnsbl } from '../src/policy/dnsbl-rule.ts';
import { silentLogger } from '../src/log/logger.ts';

const ZONES = ['zen.bench', 'bl.bench', 'dbl.bench'];
const report: Record<string, unknown> = {};
const zonesToml = (zones: readonly string[]): string => zones.map((zone) => `[[zones]]\nzone = "${zone}"\n`).join('');

function makeChecker(dns: TestDnsServer, zones: readonly string[]): DnsblChecker {
  const resolver = createDnsResolver({ servers: [{ host: dns.host, port: dns.port }], timeout: 2000, tries: 1 });
  return new DnsblChecker({ policy: policyFrom(`[cache]\nmax_entries = 100000\n${zonesToml(zones)}`), resolver, logger: silentLogger() });
}

let ipCounter = 0;
/** A fresh public-looking IPv4 address per call (never cached yet). */
const freshIp = (): string => {
  ipCounter++;
  return `203.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`;
};

async function perOp(count: number, op: (i: number) => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await op(i);
    times.push(performance.now() - started);
  }
  return times;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const fmt = (ms: number): string => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`);

async function lookupCost(dns: TestDnsServer): Promise<void> {
  const none = makeChecker(dns, []);
  const one = makeChecker(dns, ['zen.bench']);
  await one.check('192.0.2.1');
  for (let i = 0; i < 2000; i++) await Promise.all([none.check('192.0.2.1'), one.check('192.0.2.1')]); // warm-up
  const baseline = median(await perOp(20000, () => none.check('192.0.2.1')));
  const hit = median(await perOp(20000, () => one.check('192.0.2.1')));
  const cold = median(await perOp(500, () => one.check(freshIp())));
  report.lookup = { baselineMs: baseline, cacheHitMs: hit, coldMs: cold };
  console.log('\n1. Lookup cost (1 zone, median of sequential checks; DNS on loopback, no added delay)');
  console.log(`   baseline, checker with no zones : ${fmt(baseline)}`);
  console.log(`   cache hit                       : ${fmt(hit)}  (${(hit / baseline).toFixed(1)}x baseline)`);
  console.log(`   cold (one real UDP query)       : ${fmt(cold)}  (${(cold / baseline).toFixed(0)}x baseline, ${(cold / hit).toFixed(0)}x a cache hit)`);
}

type Mode = 'none' | 'socket-cold' | 'connect-cold' | 'connect-warm' | 'rcpt-cold' | 'serial-cold';

async function smtpLatency(dns: TestDnsServer, delayMs: number, count: number): Promise<void> {
  dns.delay('*', delayMs);
  const parallel = makeChecker(dns, ZONES);
  const single = ZONES.map((zone) => makeChecker(dns, [zone]));
  let mode: Mode = 'none';
  const checks = new Map<string, { check?: DnsblCheck; ip: string }>();
  // socket-cold: started on the raw TCP connection, before smtp-server's
  // 100 ms early-talker wait that precedes onConnect; keyed by client port.
  const early = new Map<number, { check: DnsblCheck; ip: string }>();
  const warmIp = '192.0.2.200';
  await parallel.check(warmIp);

  const server = new SMTPServer({
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    logger: false,
    disableReverseLookup: true,
    onConnect(session: SMTPServerSession, callback: (error?: Error | null) => void) {
      const started = early.get(session.remotePort);
      early.delete(session.remotePort);
      if (started) {
        checks.set(session.id, started);
        return callback();
      }
      const ip = mode === 'connect-warm' ? warmIp : freshIp();
      checks.set(session.id, mode === 'connect-cold' || mode === 'connect-warm' ? { check: parallel.start(ip), ip } : { ip });
      callback();
    },
    onRcptTo(_address, session, callback) {
      const state = checks.get(session.id);
      const decide = async (): Promise<void> => {
        if (!state || mode === 'none') return;
        if (mode === 'serial-cold') {
          for (const checker of single) evaluateDnsbl(await checker.check(state.ip), checker.policy);
          return;
        }
        const check = state.check ?? parallel.start(state.ip);
        const decision = evaluateDnsbl(await check.results(), parallel.policy);
        if (decision.verdict !== 'dunno') throw new Error(`unexpected ${decision.verdict}`);
      };
      decide().then(() => callback(), callback);
    },
    onData(stream, session, callback) {
      stream.resume();
      stream.on('end', () => {
        checks.delete(session.id);
        callback();
      });
    },
  });
  server.server.on('connection', (socket: { remotePort?: number }) => {
    if (mode !== 'socket-cold' || socket.remotePort === undefined) return;
    const ip = freshIp();
    early.set(socket.remotePort, { check: parallel.start(ip), ip });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;

  const transaction = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const client = new SMTPConnection({ host: '127.0.0.1', port, ignoreTLS: true, name: 'client.bench' });
      client.once('error', reject);
      client.connect(() => {
        client.send({ from: 'a@client.bench', to: ['b@relay.bench'] }, 'Subject: x\r\n\r\nbody\r\n', (error) => {
          if (error) return reject(error);
          client.quit();
          resolve();
        });
      });
    });

  const results = new Map<Mode, number>();
  const modes: Mode[] = ['none', 'connect-warm', 'socket-cold', 'connect-cold', 'rcpt-cold', 'serial-cold'];
  for (const m of modes) {
    mode = m;
    for (let i = 0; i < 5; i++) await transaction(); // warm-up
    results.set(m, median(await perOp(count, transaction)));
  }
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const base = results.get('none') as number;
  report[`smtpDelay${delayMs}ms`] = Object.fromEntries(results);
  const row = (label: string, m: Mode): string => {
    const value = results.get(m) as number;
    return `   ${label.padEnd(52)}: ${fmt(value)}  (+${fmt(Math.max(0, value - base))}, ${(value / base).toFixed(2)}x)`;
  };
  console.log(`\n2. SMTP transaction (connect, EHLO, MAIL, RCPT, DATA, QUIT), 3 zones, DNS answers delayed ${delayMs} ms, median of ${count}`);
  console.log('   (smtp-server holds every greeting 100 ms to catch early talkers: that is most of the baseline)');
  console.log(`   ${'baseline, no DNSBL'.padEnd(52)}: ${fmt(base)}`);
  console.log(row('started in onConnect, cache warm', 'connect-warm'));
  console.log(row('started on TCP accept, cache cold', 'socket-cold'));
  console.log(row('started in onConnect (after the 100 ms wait), cold', 'connect-cold'));
  console.log(row('for contrast: lookups started at RCPT, cold', 'rcpt-cold'));
  console.log(row('for contrast: zones asked one after another, cold', 'serial-cold'));
}

async function singleFlight(dns: TestDnsServer): Promise<void> {
  dns.delay('*', 5);
  console.log('\n3. Single-flight (3 zones, DNS answers delayed 5 ms, one zone lists every client, TXT fetched)');
  for (const [connections, ips] of [[50, 1], [500, 25]] as const) {
    dns.clear();
    dns.delay('*', 5);
    const addresses = Array.from({ length: ips }, () => freshIp());
    for (const ip of addresses) {
      const name = `${ip.split('.').reverse().join('.')}.zen.bench`;
      dns.add({ name, type: 'A', data: '127.0.0.2' });
      dns.add({ name, type: 'TXT', data: 'listed' });
    }
    const checker = makeChecker(dns, ZONES);
    dns.resetCounts();
    const checks = Array.from({ length: connections }, (_, i) => checker.start(addresses[i % ips] as string));
    const facts = await Promise.all(checks.map((check) => check.results()));
    const lookups = facts.reduce((sum, f) => sum + f.results.length + f.results.filter((r) => r.status === 'listed').length, 0);
    const queries = dns.queries();
    report[`singleFlight${connections}x${ips}`] = { lookups, queries, cacheHitRatio: checker.stats().cache.hitRatio };
    console.log(
      `   ${String(connections).padStart(3)} concurrent connections from ${String(ips).padStart(2)} IP(s): ${lookups} lookups (A + TXT) -> ${queries} DNS queries sent; ` +
        `${lookups - queries} saved (${(((lookups - queries) / lookups) * 100).toFixed(1)}%); cache hit ratio ${(checker.stats().cache.hitRatio * 100).toFixed(1)}%`,
    );
  }
}

const dns = await startDnsServer();
try {
  console.log(`relayguard DNSBL bench, Node ${process.version}`);
  await lookupCost(dns);
  await smtpLatency(dns, 0, 200);
  await smtpLatency(dns, 20, 60);
  await singleFlight(dns);
  if (process.env.BENCH_JSON) await writeFile(process.env.BENCH_JSON, JSON.stringify(report));
} finally {
  await dns.close();
}

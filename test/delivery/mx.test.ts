// MX delivery over real sockets: a loopback DNS server serves MX/A records,
// recording sinks listen on different 127.x addresses sharing one port
// (config delivery.mx_port).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { openSpool, type Spool } from '../../src/spool/spool.ts';
import { startQueueRunner, type QueueRunner } from '../../src/delivery/queue-runner.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { startSinksOnOnePort, type SmtpSink } from '../helpers/smtp-sink.ts';
import { captureLogger, envelope, rfc822, tempDir, testConfig, type CapturedLogger } from '../helpers/spool-fixtures.ts';
import { waitFor } from '../helpers/wait-for.ts';
import type { Config } from '../../src/config/schema.ts';

interface World {
  readonly dir: string;
  readonly dns: TestDnsServer;
  readonly sinks: SmtpSink[];
  readonly log: CapturedLogger;
  config: Config;
  spool: Spool;
  runner: QueueRunner;
  restart(delivery?: string): Promise<void>;
}

const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];

async function world(t: TestContext, delivery = '', own?: boolean): Promise<World> {
  const dir = await tempDir(t);
  const dns = await startDnsServer();
  const sinks = await startSinksOnOnePort(HOSTS);
  const port = sinks[0]?.port as number;
  // The sender's own domain, for bounces.
  dns.add({ name: 'sender.test', type: 'MX', data: { preference: 10, exchange: 'mx.sender.test' } });
  dns.add({ name: 'mx.sender.test', type: 'A', data: '127.0.0.4' });
  const makeConfig = (extra: string) =>
    testConfig(dir, `mode = "mx"\nmx_port = ${port}\n${extra.includes('retry_schedule') ? '' : 'retry_schedule = ["200ms"]'}\nconnect_timeout = "2s"\n${extra}`, `[dns]\nservers = ["${dns.address}"]\ntimeout = "2s"\ntries = 1`);
  const log = captureLogger();
  const ownAddresses = own ? () => [{ host: '127.0.0.1', port }] : undefined;
  const w: World = {
    dir,
    dns,
    sinks,
    log,
    config: makeConfig(delivery),
    spool: await openSpool({ dir, logger: log.logger }),
    runner: undefined as unknown as QueueRunner,
    async restart(next = delivery) {
      await w.runner.stop(2000);
      await w.spool.close();
      w.config = makeConfig(next);
      w.spool = await openSpool({ dir, logger: log.logger });
      w.runner = startQueueRunner({ spool: w.spool, config: w.config, logger: log.logger, ...(ownAddresses ? { ownAddresses } : {}) });
    },
  };
  w.runner = startQueueRunner({ spool: w.spool, config: w.config, logger: log.logger, ...(ownAddresses ? { ownAddresses } : {}) });
  t.after(async () => {
    await w.runner.stop(2000);
    await w.spool.close();
    await Promise.all(sinks.map((s) => s.close()));
    await dns.close();
  });
  return w;
}

const mx = (dns: TestDnsServer, domain: string, records: Array<[number, string, string?]>) => {
  for (const [preference, exchange, address] of records) {
    dns.add({ name: domain, type: 'MX', data: { preference, exchange } });
    if (address) dns.add({ name: exchange, type: 'A', data: address });
  }
};

test('MX records are tried by preference; a CNAME exchange is skipped', async (t) => {
  const w = await world(t);
  mx(w.dns, 'dest.test', [[20, 'mx2.dest.test', '127.0.0.3'], [10, 'mx1.dest.test', '127.0.0.2'], [5, 'alias.dest.test']]);
  w.dns.add({ name: 'alias.dest.test', type: 'CNAME', data: 'mx2.dest.test' });
  await w.spool.accept(envelope({ recipients: ['bob@dest.test', 'carol@dest.test'] }), rfc822('pref'));
  await w.sinks[0]?.waitFor(1);
  await waitFor(() => w.spool.stats().size === 0, 5000, 'spool empty');
  assert.deepEqual(w.sinks[0]?.messages[0]?.to, ['bob@dest.test', 'carol@dest.test'], 'one transaction for the domain');
  assert.equal(w.sinks[1]?.messages.length, 0);
  assert.ok(w.log.lines.some((l) => l.msg === 'MX exchange is a CNAME (RFC 5321 §5.1), skipped' && l.exchange === 'alias.dest.test'));
});

test('the next MX is used when the first refuses connections, answers 421 at the greeting, or 4xx to a recipient', async (t) => {
  const w = await world(t);
  mx(w.dns, 'dest.test', [[10, 'mx1.dest.test', '127.0.0.2'], [20, 'mx2.dest.test', '127.0.0.3']]);
  const [first, second] = w.sinks as [SmtpSink, SmtpSink];
  await first.down();
  await w.spool.accept(envelope(), rfc822('refused'));
  await second.waitFor(1);
  await first.up();
  first.greetingReply('421 4.3.2 not now');
  await w.spool.accept(envelope(), rfc822('greeting'));
  await second.waitFor(2);
  first.greetingReply(undefined);
  first.rcptReply('bob@dest.test', '451 4.7.1 greylisted');
  await w.spool.accept(envelope(), rfc822('greylisted'));
  await second.waitFor(3);
  await waitFor(() => w.spool.stats().size === 0, 5000, 'spool empty');
  assert.equal(first.messages.length, 0);
  assert.deepEqual(second.messages.map((m) => m.raw.toString().match(/Subject: (\w+)/)?.[1]), ['refused', 'greeting', 'greylisted']);
});

test('no MX records: the domain\'s own address is used (implicit MX)', async (t) => {
  const w = await world(t);
  w.dns.add({ name: 'implicit.test', type: 'A', data: '127.0.0.3' });
  await w.spool.accept(envelope({ recipients: ['x@implicit.test'] }), rfc822('implicit'));
  await w.sinks[1]?.waitFor(1);
  assert.deepEqual(w.sinks[1]?.messages[0]?.to, ['x@implicit.test']);
});

test('null MX: bounced at once with 5.1.10, no connection attempted', async (t) => {
  const w = await world(t);
  w.dns.add({ name: 'nomail.test', type: 'MX', data: { preference: 0, exchange: '.' } });
  w.dns.add({ name: 'nomail.test', type: 'A', data: '127.0.0.2' });
  await w.spool.accept(envelope({ recipients: ['x@nomail.test'] }), rfc822('nullmx'));
  const bounceSink = w.sinks[2] as SmtpSink;
  await bounceSink.waitFor(1);
  const dsn = bounceSink.messages[0];
  assert.equal(dsn?.from, '');
  assert.match(dsn?.raw.toString() ?? '', /Status: 5\.1\.10/);
  assert.equal(w.sinks[0]?.connections, 0);
  await waitFor(() => w.spool.stats().size === 0, 5000, 'spool empty');
});

test('one recipient 550, one 250: one RFC 3464 DSN for the failed one, parsed and checked', async (t) => {
  const w = await world(t);
  mx(w.dns, 'dest.test', [[10, 'mx1.dest.test', '127.0.0.2']]);
  w.sinks[0]?.rcptReply('gone@dest.test', '550 5.1.1 <gone@dest.test>: user unknown');
  const id = await w.spool.accept(envelope({ recipients: ['gone@dest.test', 'here@dest.test'] }), rfc822('partial-dsn'));
  await w.sinks[0]?.waitFor(1);
  const bounceSink = w.sinks[2] as SmtpSink;
  await bounceSink.waitFor(1);
  await waitFor(() => w.spool.stats().size === 0, 5000, 'spool empty');
  // stop() waits for attempts in flight: after it no delivery can start or finish.
  await w.runner.stop(2000);
  assert.equal(bounceSink.messages.length, 1, 'exactly one DSN');
  assert.deepEqual(w.sinks[0]?.messages[0]?.to, ['here@dest.test']);
  const raw = bounceSink.messages[0]?.raw as Buffer;
  assert.equal(bounceSink.messages[0]?.from, '');
  assert.deepEqual(bounceSink.messages[0]?.to, ['alice@sender.test']);
  const parsed = await simpleParser(raw);
  const contentType = parsed.headers.get('content-type') as { value: string; params: Record<string, string> };
  assert.equal(contentType.value, 'multipart/report');
  assert.equal(contentType.params['report-type'], 'delivery-status');
  assert.equal(parsed.headers.get('auto-submitted'), 'auto-replied');
  assert.match(parsed.text ?? '', /gone@dest\.test/);
  const text = raw.toString();
  const status = /Content-Type: message\/delivery-status\r\n\r\n([\s\S]*?)\r\n--/.exec(text)?.[1] ?? '';
  const [perMessage, ...perRecipient] = status.split('\r\n\r\n').filter((b) => b.trim());
  assert.match(perMessage ?? '', /^Reporting-MTA: dns; relay\.test$/m);
  assert.match(perMessage ?? '', new RegExp(`^X-Relayguard-Queue-ID: ${id}$`, 'm'));
  assert.equal(perRecipient.length, 1);
  assert.match(perRecipient[0] ?? '', /^Final-Recipient: rfc822; gone@dest\.test$/m);
  assert.match(perRecipient[0] ?? '', /^Action: failed$/m);
  assert.match(perRecipient[0] ?? '', /^Status: 5\.1\.1$/m);
  assert.match(perRecipient[0] ?? '', /^Remote-MTA: dns; mx1\.dest\.test$/m);
  assert.match(perRecipient[0] ?? '', /^Diagnostic-Code: smtp; 550 5\.1\.1/m);
  const headersPart = /Content-Type: text\/rfc822-headers\r\n\r\n([\s\S]*?)\r\n--/.exec(text)?.[1] ?? '';
  assert.match(headersPart, /^Subject: partial-dsn$/m);
  assert.doesNotMatch(headersPart, /Hello\./, 'headers only, not the body');
});

test('4xx is retried on the (shortened) schedule and then delivered', async (t) => {
  const w = await world(t);
  mx(w.dns, 'dest.test', [[10, 'mx1.dest.test', '127.0.0.2']]);
  const sink = w.sinks[0] as SmtpSink;
  sink.rcptReply('bob@dest.test', '452 4.2.2 mailbox full');
  await w.spool.accept(envelope(), rfc822('retry'));
  await waitFor(() => w.runner.stats().deferred >= 2, 5000, 'two deferrals');
  sink.rcptReply('bob@dest.test', undefined);
  await sink.waitFor(1);
  await waitFor(() => w.spool.stats().size === 0, 5000, 'spool empty');
});

test('past queue_lifetime the message fails and the sender gets a DSN', async (t) => {
  const w = await world(t, 'queue_lifetime = "1s"');
  mx(w.dns, 'dest.test', [[10, 'mx1.dest.test', '127.0.0.2']]);
  await w.sinks[0]?.down();
  await w.spool.accept(envelope(), rfc822('expire'));
  const bounceSink = w.sinks[2] as SmtpSink;
  await bounceSink.waitFor(1, 8000);
  const text = bounceSink.messages[0]?.raw.toString() ?? '';
  assert.match(text, /Action: failed/);
  assert.match(text, /delivery time expired/);
  assert.match(text, /Status: 4\.4\.1/);
  await waitFor(() => w.spool.stats().size === 0, 5000, 'spool empty');
});

test('no bounce for the null sender <>', async (t) => {
  const w = await world(t);
  mx(w.dns, 'dest.test', [[10, 'mx1.dest.test', '127.0.0.2']]);
  w.sinks[0]?.rcptReply('gone@dest.test', '550 5.1.1 unknown');
  await w.spool.accept(envelope({ sender: '', recipients: ['gone@dest.test'] }), rfc822('nullsender'));
  await waitFor(() => w.spool.stats().size === 0, 5000, 'spool empty');
  // stop() waits for attempts in flight: after it no delivery can start or finish.
  await w.runner.stop(2000);
  assert.equal(w.sinks[2]?.messages.length, 0);
  assert.ok(w.log.lines.some((l) => l.msg === 'failed recipients of a null-sender message: no bounce'));
});

test('a restart in the middle keeps recipient state: the delivered domain is not sent again', async (t) => {
  const w = await world(t, 'retry_schedule = ["1h"]');
  mx(w.dns, 'a.test', [[10, 'mx.a.test', '127.0.0.2']]);
  mx(w.dns, 'b.test', [[10, 'mx.b.test', '127.0.0.3']]);
  const [sinkA, sinkB] = w.sinks as [SmtpSink, SmtpSink];
  sinkB.rcptReply('y@b.test', '451 4.3.0 later');
  const id = await w.spool.accept(envelope({ recipients: ['x@a.test', 'y@b.test'] }), rfc822('restart'));
  await sinkA.waitFor(1);
  await waitFor(() => w.runner.stats().deferred >= 1 && (w.spool.dueOf(id) ?? 0) > Date.now() + 60_000, 5000, 'deferral recorded');
  sinkB.rcptReply('y@b.test', undefined);
  await w.restart('retry_schedule = ["1h"]');
  await w.runner.retry(id);
  await sinkB.waitFor(1);
  await waitFor(() => w.spool.stats().size === 0, 5000, 'spool empty');
  // stop() waits for attempts in flight: after it no delivery can start or finish.
  await w.runner.stop(2000);
  assert.equal(sinkA.messages.length, 1);
  assert.deepEqual(sinkB.messages[0]?.to, ['y@b.test']);
});

test('loop guard: an MX that is one of our own listeners bounces with 5.4.6, no connection', async (t) => {
  const w = await world(t, '', true);
  mx(w.dns, 'loop.test', [[10, 'mx.loop.test', '127.0.0.1']]);
  await w.spool.accept(envelope({ recipients: ['x@loop.test'] }), rfc822('loop'));
  const bounceSink = w.sinks[2] as SmtpSink;
  await bounceSink.waitFor(1);
  assert.match(bounceSink.messages[0]?.raw.toString() ?? '', /Status: 5\.4\.6/);
  assert.match(bounceSink.messages[0]?.raw.toString() ?? '', /loops back to myself/);
});

// npm test: own process (DNS lookups with timeouts of a few hundred ms: they timed out in a shared process under load)
// Issue 6 end to end: DNSBL / DNSWL decisions through the whole relay
// (startRelay) over SMTP, with test/helpers/dns-server.ts as the only
// resolver ([dns] servers). Clients play other loopback addresses
// (127.0.0.x, localAddress) so each one has its own DNSBL name,
// x.0.0.127.<zone>. 127.0.0.2 is also every zone's RFC 5782 test entry,
// which the health probes ask about; counting tests use other addresses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { SmtpTalk } from '../helpers/smtp-talk.ts';
import { HARNESS_LISTENERS, smarthostTo, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { usersToml } from '../helpers/auth-fixtures.ts';
import { authPlainLine, replyLine, submit } from '../helpers/e2e-auth-clients.ts';

const LISTED = '127.0.0.2';

interface Setup {
  readonly dns: TestDnsServer;
  readonly sink: SmtpSink;
  readonly harness: RelayHarness;
}

/** dnsbl.toml head: loopback clients are looked up (they are all we have), probes only at start unless said. */
function dnsblToml(zones: string, head = ''): string {
  return `threshold = 1\ncheck_private_clients = true\n${head}\n${zones}`;
}

/** The zone lists its RFC 5782 test entry (so the start-up probe passes) and `listed` clients with 127.0.0.2. */
function listZone(dns: TestDnsServer, zone: string, listed: readonly string[] = []): void {
  for (const ip of new Set([LISTED, ...listed])) {
    dns.add({ name: `${ip.split('.').reverse().join('.')}.${zone}`, type: 'A', data: '127.0.0.2' });
  }
}

function queryName(ip: string, zone: string): string {
  return `${ip.split('.').reverse().join('.')}.${zone}`;
}

async function setup(
  t: { after(fn: () => Promise<void>): void },
  dnsbl: (dns: TestDnsServer) => string,
  options: { policies?: Record<string, string>; records?: (dns: TestDnsServer) => void; listeners?: string } = {},
): Promise<Setup> {
  const dns = await startDnsServer();
  options.records?.(dns);
  const sink = await startSmtpSink();
  const harness = await startHarness({
    deliveryWorker: false,
    config: `${HARNESS_LISTENERS}${options.listeners ?? ''}${smarthostTo(sink.port)}
[dns]
servers = ["${dns.address}"]
timeout = "3s"
tries = 1
`,
    policies: { 'local-domains': 'example.test\n', 'relay-networks': '', ...options.policies, 'dnsbl.toml': dnsbl(dns) },
  });
  t.after(async () => {
    await harness.stop();
    await sink.close();
    await dns.close();
  });
  return { dns, sink, harness };
}

/** One session from `client` (a 127.x address): EHLO, MAIL, RCPT; resolves with the RCPT reply line. */
async function rcptFrom(port: number, client: string, recipient = 'bob@example.test'): Promise<string> {
  const talk = await SmtpTalk.connect({ port, localAddress: client });
  try {
    const greeting = await talk.read();
    if (greeting?.code !== 220) return `greeting: ${replyLine(greeting)}`;
    await talk.command('EHLO client.test');
    const mail = await talk.command('MAIL FROM:<someone@sender.test>');
    if (mail.code !== 250) return `MAIL: ${replyLine(mail)}`;
    const reply = replyLine(await talk.command(`RCPT TO:<${recipient}>`));
    talk.write('QUIT\r\n');
    return reply;
  } finally {
    talk.close();
  }
}

/** A whole message from `client` to the mx listener with nodemailer (no TLS needed on mx). */
async function sendFrom(harness: RelayHarness, client: string, subject: string) {
  const { default: nodemailer } = await import('nodemailer');
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: harness.port('mx'), secure: false, ignoreTLS: true, name: 'client.test', localAddress: client });
  try {
    const info = await transport.sendMail({
      envelope: { from: 'someone@sender.test', to: ['bob@example.test'] },
      raw: `From: someone@sender.test\r\nTo: bob@example.test\r\nSubject: ${subject}\r\n\r\nhello\r\n`,
    });
    return { ok: true as const, response: info.response };
  } catch (error) {
    return { ok: false as const, response: (error as { response?: string }).response ?? (error as Error).message };
  } finally {
    transport.close();
  }
}

const subjects = (sink: SmtpSink): string[] => sink.messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString())?.[1]?.trim() ?? '');

test('a listed client hears 554 5.7.1 naming the zone at RCPT, nothing reaches the sink; a clean client gets through', async (t) => {
  const { dns, sink, harness } = await setup(t, () => dnsblToml('[[zones]]\nzone = "bl.test"\n'), {
    records: (d) => {
      listZone(d, 'bl.test', ['127.0.0.3']);
      d.add({ name: queryName('127.0.0.3', 'bl.test'), type: 'TXT', data: 'Listed: see https://bl.test/lookup' });
    },
  });
  const port = harness.port('mx');
  // The lookup starts at connect, before the client has said anything.
  const early = await SmtpTalk.connect({ port, localAddress: '127.0.0.10' });
  try {
    assert.equal((await early.read())?.code, 220);
    await waitFor(() => dns.queries(queryName('127.0.0.10', 'bl.test'), 'A') === 1, 5000, 'a query at connect');
    await early.command('EHLO client.test');
    await early.command('MAIL FROM:<someone@sender.test>');
    assert.equal(replyLine(await early.command('RCPT TO:<bob@example.test>')), '250 2.1.5 Accepted');
    assert.equal(dns.queries(queryName('127.0.0.10', 'bl.test'), 'A'), 1, 'RCPT awaited the same lookup');
  } finally {
    early.close();
  }
  assert.equal(await rcptFrom(port, LISTED), '554 5.7.1 Service unavailable; client [127.0.0.2] blocked using bl.test');
  // With a TXT record, its text follows the zone name.
  assert.equal(await rcptFrom(port, '127.0.0.3'), '554 5.7.1 Service unavailable; client [127.0.0.3] blocked using bl.test; Listed: see https://bl.test/lookup');
  const refused = await sendFrom(harness, LISTED, 'from-listed');
  assert.equal(refused.ok, false);
  assert.match(refused.response, /^554 5\.7\.1 Service unavailable; client \[127\.0\.0\.2\] blocked using bl\.test/);
  const clean = await sendFrom(harness, '127.0.0.4', 'from-clean');
  assert.ok(clean.ok, clean.response);
  await sink.waitFor(1);
  await waitFor(() => harness.relay.spool.stats().size === 0, 5000, 'spool empty');
  assert.deepEqual(subjects(sink), ['from-clean'], 'only the clean client reached the sink');
  assert.ok(dns.queries(queryName('127.0.0.4', 'bl.test'), 'A') >= 1, 'the clean client was looked up');
  const line = harness.logs.find((l) => l.msg === 'decision' && l.reason === 'dnsbl.listed' && l.client === LISTED);
  assert.ok(line, 'the refusal is logged as a Decision');
  assert.equal(line.rule, 'dnsbl');
  assert.equal(line.stage, 'rcpt');
  assert.equal(line.to, 'bob@example.test');
});

test('timeout, SERVFAIL and an error code are not listings (fail-open), and are logged; on_error = "defer" defers', async (t) => {
  const zones = '[[zones]]\nzone = "bl.test"\n\n[[zones]]\nzone = "strict.test"\non_error = "defer"\n';
  const { harness } = await setup(t, () => dnsblToml(zones), {
    records: (d) => {
      listZone(d, 'bl.test');
      listZone(d, 'strict.test');
      d.timeout(queryName('127.0.0.7', 'bl.test'));
      d.servfail(queryName('127.0.0.8', 'bl.test'));
      d.add({ name: queryName('127.0.0.9', 'bl.test'), type: 'A', data: '127.255.255.254' });
      d.servfail(queryName('127.0.0.11', 'strict.test'));
    },
  });
  const port = harness.port('mx');
  for (const client of ['127.0.0.7', '127.0.0.8', '127.0.0.9']) {
    assert.equal(await rcptFrom(port, client), '250 2.1.5 Accepted', `client ${client}`);
  }
  // A zone that must answer: a client it could not check is told to come back.
  assert.equal(
    await rcptFrom(port, '127.0.0.11'),
    '451 4.7.1 Service temporarily unavailable; client [127.0.0.11] could not be checked against strict.test; try again later',
  );
  const warnings = harness.logs.filter((l) => l.zone === 'bl.test' && l.level === 40);
  const find = (subject: string) => warnings.find((l) => l.subject === subject);
  assert.equal(find('127.0.0.7')?.error, 'timeout', 'the timeout is logged');
  assert.equal(find('127.0.0.8')?.error, 'servfail', 'the SERVFAIL is logged');
  assert.equal(find('127.0.0.9')?.problem, 'error_code', 'the 127.255.255.254 answer is logged as a zone problem');
});

test('weights and threshold combine across two zones', async (t) => {
  const zones = '[[zones]]\nzone = "a.test"\nweight = 1\n\n[[zones]]\nzone = "b.test"\nweight = 1.5\n';
  const { harness } = await setup(t, () => dnsblToml(zones).replace('threshold = 1', 'threshold = 2'), {
    records: (d) => {
      listZone(d, 'a.test', ['127.0.0.3', '127.0.0.4']);
      listZone(d, 'b.test', ['127.0.0.4', '127.0.0.5']);
    },
  });
  const port = harness.port('mx');
  assert.equal(await rcptFrom(port, '127.0.0.3'), '250 2.1.5 Accepted', 'a.test alone: 1 < 2');
  assert.equal(await rcptFrom(port, '127.0.0.5'), '250 2.1.5 Accepted', 'b.test alone: 1.5 < 2');
  // Both: 2.5 >= 2, heaviest zone first.
  assert.equal(await rcptFrom(port, '127.0.0.4'), '554 5.7.1 Service unavailable; client [127.0.0.4] blocked using b.test, a.test');
  const line = harness.logs.find((l) => l.msg === 'decision' && l.reason === 'dnsbl.listed' && l.client === '127.0.0.4');
  assert.equal((line?.detail as Record<string, unknown> | undefined)?.score, 2.5);
});

test('a DNSWL entry lets a listed client through, but never opens the relay', async (t) => {
  const zones = '[[zones]]\nzone = "bl.test"\nweight = 1\n\n[[zones]]\nzone = "wl.test"\nweight = -1\ncodes = ["127.0.0.0/16"]\n';
  const { harness } = await setup(t, () => dnsblToml(zones), {
    records: (d) => {
      listZone(d, 'bl.test', ['127.0.0.3', '127.0.0.4']);
      listZone(d, 'wl.test', ['127.0.0.3']);
    },
  });
  const port = harness.port('mx');
  assert.equal(await rcptFrom(port, '127.0.0.3'), '250 2.1.5 Accepted', 'listed and allow-listed: score 0');
  assert.equal(await rcptFrom(port, '127.0.0.4'), '554 5.7.1 Service unavailable; client [127.0.0.4] blocked using bl.test');
  assert.equal(await rcptFrom(port, '127.0.0.3', 'someone@foreign.test'), '554 5.7.1 <someone@foreign.test>: Relay access denied');
});

test('a zone answering 127.255.255.254 for everything is suspended by the health probe and stops refusing clients; repaired, it resumes', async (t) => {
  const head = '[health]\nprobe_interval = "200ms"\nsuspended_probe_interval = "1s"\nhealthy_probes_to_resume = 1\n';
  const { dns, harness } = await setup(t, () => dnsblToml('[[zones]]\nzone = "bl.test"\n', head), {
    records: (d) => listZone(d, 'bl.test', ['127.0.0.3']),
  });
  const port = harness.port('mx');
  assert.equal(await rcptFrom(port, '127.0.0.3'), '554 5.7.1 Service unavailable; client [127.0.0.3] blocked using bl.test');
  // The zone breaks: every name now answers the "error" code.
  dns.clear();
  dns.add({ name: '*.bl.test', type: 'A', data: '127.255.255.254' });
  await waitFor(() => harness.logs.some((l) => l.zone === 'bl.test' && /SUSPENDED/.test(String(l.msg))), 5000, 'the zone to be suspended');
  const suspended = harness.logs.find((l) => l.zone === 'bl.test' && /SUSPENDED/.test(String(l.msg)));
  assert.equal(suspended?.reason, 'error_code');
  assert.equal(suspended?.level, 50, 'logged loudly (error)');
  const before = dns.queries(queryName('127.0.0.3', 'bl.test'));
  // The listing cached from before no longer counts, and the zone is not asked.
  assert.equal(await rcptFrom(port, '127.0.0.3'), '250 2.1.5 Accepted');
  assert.equal(await rcptFrom(port, '127.0.0.4'), '250 2.1.5 Accepted');
  assert.equal(dns.queries(queryName('127.0.0.3', 'bl.test')), before, 'a suspended zone is not asked');
  assert.equal(dns.queries(queryName('127.0.0.4', 'bl.test')), 0);
  // The dashboard shows it.
  const http = harness.relay.http as { host: string; port: number };
  const status = (await (await fetch(`http://${http.host}:${http.port}/api/status`)).json()) as { dnsbl: { zones?: Array<{ zone: string; suspended: boolean }> } };
  assert.deepEqual(
    status.dnsbl.zones?.map((z) => [z.zone, z.suspended]),
    [['bl.test', true]],
  );
  // Repaired: the next probe resumes it, and it refuses listed clients again.
  dns.clear();
  listZone(dns, 'bl.test', ['127.0.0.3']);
  await waitFor(() => harness.logs.some((l) => l.zone === 'bl.test' && /resumed/.test(String(l.msg))), 5000, 'the zone to resume');
  assert.equal(await rcptFrom(port, '127.0.0.3'), '554 5.7.1 Service unavailable; client [127.0.0.3] blocked using bl.test');
});

test('the cache stops repeated queries over several connections', async (t) => {
  const { dns, harness } = await setup(t, () => dnsblToml('[[zones]]\nzone = "bl.test"\n'), {
    records: (d) => {
      listZone(d, 'bl.test', ['127.0.0.3']);
      d.add({ name: queryName('127.0.0.3', 'bl.test'), type: 'TXT', data: 'listed' });
    },
  });
  const port = harness.port('mx');
  for (let i = 0; i < 4; i++) {
    assert.equal(await rcptFrom(port, '127.0.0.3'), '554 5.7.1 Service unavailable; client [127.0.0.3] blocked using bl.test; listed');
    assert.equal(await rcptFrom(port, '127.0.0.4'), '250 2.1.5 Accepted');
  }
  assert.equal(dns.queries(queryName('127.0.0.3', 'bl.test'), 'A'), 1, 'a listing is asked once');
  assert.equal(dns.queries(queryName('127.0.0.3', 'bl.test'), 'TXT'), 1, 'its TXT reason once');
  assert.equal(dns.queries(queryName('127.0.0.4', 'bl.test'), 'A'), 1, '"not listed" (NXDOMAIN) is cached too');
});

test('50 concurrent connections from one IP cause one query per zone', async (t) => {
  const zones = '[[zones]]\nzone = "a.test"\n\n[[zones]]\nzone = "b.test"\n';
  const { dns, harness } = await setup(t, () => dnsblToml(zones), {
    // 50 connections at once from one address: above the default per-IP cap.
    policies: { 'limits.toml': '[ip]\nmax_connections = 100\n' },
    records: (d) => {
      listZone(d, 'a.test', ['127.0.0.6']);
      listZone(d, 'b.test');
      // Slow answers: every connection's lookup is in flight at once, so only
      // sharing the query (single-flight), not the cache, can keep it at one.
      d.delay('*', 250);
    },
  });
  const port = harness.port('mx');
  const replies = await Promise.all(Array.from({ length: 50 }, () => rcptFrom(port, '127.0.0.6')));
  assert.deepEqual(new Set(replies), new Set(['554 5.7.1 Service unavailable; client [127.0.0.6] blocked using a.test']));
  assert.equal(dns.queries(queryName('127.0.0.6', 'a.test'), 'A'), 1);
  assert.equal(dns.queries(queryName('127.0.0.6', 'b.test'), 'A'), 1);
  assert.ok(dns.queries(queryName('127.0.0.6', 'a.test'), 'TXT') <= 1);
});

test('relay-network clients, allowlisted clients and authenticated users are not looked up', async (t) => {
  const alice = { name: 'alice@example.test', password: 'alice-e2e-pw', senders: ['alice@example.test'] };
  const { dns, sink, harness } = await setup(t, () => dnsblToml('[[zones]]\nzone = "bl.test"\n'), {
    // All three are listed: a lookup would refuse them.
    records: (d) => listZone(d, 'bl.test', ['127.0.0.5', '127.0.0.6', '127.0.0.7']),
    policies: { 'relay-networks': '127.0.0.5\n', allowlist: '127.0.0.7\n', 'users.toml': await usersToml([alice]) },
  });
  assert.equal(await rcptFrom(harness.port('mx'), '127.0.0.5', 'someone@foreign.test'), '250 2.1.5 Accepted', 'relay network');
  assert.equal(await rcptFrom(harness.port('mx'), '127.0.0.7'), '250 2.1.5 Accepted', 'allowlist');
  const sent = await submit({
    port: harness.port('submission'),
    user: alice.name,
    pass: alice.password,
    from: alice.name,
    to: ['someone@foreign.test'],
    subject: 'authenticated',
    localAddress: '127.0.0.6',
  });
  assert.ok(sent.ok, sent.response);
  // The same on implicit TLS, AUTH then MAIL/RCPT by hand.
  const talk = await SmtpTalk.connect({ port: harness.port('submissions'), tls: true, localAddress: '127.0.0.6' });
  try {
    await talk.read();
    await talk.command('EHLO client.test');
    assert.equal((await talk.command(authPlainLine(alice.name, alice.password))).code, 235);
    assert.equal((await talk.command('MAIL FROM:<alice@example.test>')).code, 250);
    assert.equal(replyLine(await talk.command('RCPT TO:<bob@example.test>')), '250 2.1.5 Accepted');
  } finally {
    talk.close();
  }
  await sink.waitFor(1);
  for (const client of ['127.0.0.5', '127.0.0.6', '127.0.0.7']) {
    assert.equal(dns.queries(queryName(client, 'bl.test')), 0, `${client} was not looked up`);
  }
});

test('an IPv6 client is asked by reversed nibbles, only of zones marked ipv6', async (t) => {
  const nibbles = '1.' + '0.'.repeat(31); // ::1 reversed, nibble by nibble
  const zones = '[[zones]]\nzone = "v6.test"\nipv6 = true\n\n[[zones]]\nzone = "v4only.test"\n';
  const { dns, harness } = await setup(t, () => dnsblToml(zones), {
    records: (d) => {
      listZone(d, 'v6.test');
      listZone(d, 'v4only.test');
      d.add({ name: `${nibbles}v6.test`, type: 'A', data: '127.0.0.2' });
    },
    listeners: '\n[[listeners]]\nname = "mx6"\naddress = "[::1]:0"\nrole = "mx"\ntls = "none"\n',
  });
  const talk = await SmtpTalk.connect({ port: harness.port('mx6'), host: '::1' });
  try {
    assert.equal((await talk.read())?.code, 220);
    await talk.command('EHLO client.test');
    await talk.command('MAIL FROM:<someone@sender.test>');
    assert.equal(replyLine(await talk.command('RCPT TO:<bob@example.test>')), '554 5.7.1 Service unavailable; client [::1] blocked using v6.test');
  } finally {
    talk.close();
  }
  assert.equal(dns.queries(`${nibbles}v6.test`, 'A'), 1);
  assert.equal(dns.queries(`${nibbles}v4only.test`), 0, 'an IPv4-only zone is not asked about an IPv6 client');
});

test('RHSBL: a UTF-8 sender domain (SMTPUTF8) is looked up, and refused, by its A-label (issue 21)', async (t) => {
  const { dns, harness, sink } = await setup(t, () => dnsblToml('[[zones]]\nzone = "dbl.test"\nkind = "domain"\ncheck = ["sender"]\ntest_entry = false\ntxt = false\n'));
  dns.add({ name: 'xn--bcher-kva.test.dbl.test', type: 'A', data: '127.0.0.2' });
  const talk = await SmtpTalk.connect({ port: harness.port('mx'), localAddress: '127.0.0.4' });
  t.after(() => talk.close());
  assert.equal((await talk.read())?.code, 220);
  await talk.command('EHLO client.test');
  assert.equal((await talk.command('MAIL FROM:<jürgen@Bücher.TEST> SMTPUTF8')).code, 250);
  assert.match(replyLine(await talk.command('RCPT TO:<bob@example.test>')), /^554 5\.7\.1 .*dbl\.test/);
  assert.equal(dns.queries('xn--bcher-kva.test.dbl.test', 'A'), 1, 'asked once, by the A-label');
  assert.equal(sink.messages.length, 0);
});

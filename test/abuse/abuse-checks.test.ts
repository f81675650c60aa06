// Issue 8 end to end, client and protocol checks through the whole relay:
// HELO impersonation and invalid names, unknown / null-MX sender domains
// answered by a real DNS server, SMTP smuggling payloads that must never
// become two messages at the upstream sink, and a slow client dropped at its
// time limit. Clients play outside hosts from 127.0.0.3; 127.0.0.1 is the
// relay network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { HARNESS_LISTENERS, smarthostTo, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { connectFrom, data, envelope, sendFrom } from '../helpers/abuse-clients.ts';

const OUTSIDE = '127.0.0.3';

async function relayWith(t: { after: (fn: () => Promise<void>) => void }, options: { config?: string; checks?: string } = {}): Promise<{ harness: RelayHarness; sink: SmtpSink; dns: TestDnsServer }> {
  const dns = await startDnsServer();
  dns.add({ name: 'other.example', type: 'MX', data: { preference: 10, exchange: 'mx.other.example' } });
  dns.add({ name: 'implicit.example', type: 'A', data: '192.0.2.10' });
  dns.add({ name: 'nullmx.example', type: 'MX', data: { preference: 0, exchange: '.' } });
  dns.servfail('broken.example');
  const sink = await startSmtpSink();
  const harness = await startHarness({
    deliveryWorker: false,
    config: `${HARNESS_LISTENERS}${smarthostTo(sink.port)}[dns]\nservers = ["${dns.address}"]\ntimeout = "2s"\ntries = 1\n${options.config ?? ''}`,
    policies: { 'local-domains': 'example.test\n', 'relay-networks': '127.0.0.1\n', 'checks.toml': options.checks ?? '' },
  });
  t.after(async () => {
    await harness.stop();
    await sink.close();
    await dns.close();
  });
  return { harness, sink, dns };
}

test('a HELO that claims to be us is refused at MAIL; an invalid one too; the relay network is exempt', async (t) => {
  const { harness } = await relayWith(t);
  const port = harness.port('mx');
  const rows: ReadonlyArray<readonly [string, string, string]> = [
    ['our hostname', 'relay.test', '550 5.7.1 <relay.test>: Helo command rejected: that name is ours, not yours'],
    ['our address the client connected to', '[127.0.0.1]', '550 5.7.1 <[127.0.0.1]>: Helo command rejected: that name is ours, not yours'],
    ['an invalid name', 'bad..name', '501 5.5.2 <bad..name>: Helo command rejected: Invalid name'],
    ['an honest name', 'mail.other.example', '250 2.1.0 Accepted'],
    ['a bare name (allowed by default)', 'exchange01', '250 2.1.0 Accepted'],
  ];
  for (const [name, helo, expected] of rows) {
    const { talk } = await connectFrom(port, OUTSIDE);
    assert.deepEqual(await envelope(talk, 'a@other.example', [], helo), [expected], name);
    talk.close();
  }
  const trusted = await connectFrom(port, '127.0.0.1');
  assert.deepEqual(await envelope(trusted.talk, 'a@other.example', [], 'relay.test'), ['250 2.1.0 Accepted']);
  trusted.talk.close();
  assert.ok(harness.logs.some((line) => line.reason === 'helo.impersonation' && line.stage === 'helo' && line.helo === 'relay.test'));
});

test('checks.toml switches: non-FQDN HELO refused when turned on, impersonation allowed when turned off', async (t) => {
  const { harness } = await relayWith(t, { checks: '[helo]\nreject_non_fqdn = true\nreject_impersonation = false\n' });
  const { talk } = await connectFrom(harness.port('mx'), OUTSIDE);
  assert.deepEqual(await envelope(talk, 'a@other.example', [], 'exchange01'), ['504 5.5.2 <exchange01>: Helo command rejected: need fully-qualified hostname']);
  assert.deepEqual(await envelope(talk, 'a@other.example', [], 'relay.test'), ['250 2.1.0 Accepted']);
  talk.close();
});

test('sender domains that cannot receive mail are refused; a DNS failure defers; resolvable ones pass and arrive', async (t) => {
  const { harness, sink } = await relayWith(t);
  const port = harness.port('mx');
  const rows: ReadonlyArray<readonly [string, string]> = [
    ['a@nowhere.example', '550 5.1.8 <a@nowhere.example>: Sender address rejected: Domain not found'],
    ['a@nullmx.example', '550 5.7.27 <a@nullmx.example>: Sender address rejected: Domain does not accept mail'],
    ['a@broken.example', '450 4.1.8 <a@broken.example>: Sender address rejected: Domain lookup failed, try again later'],
    ['a@other.example', '250 2.1.0 Accepted'],
    ['a@implicit.example', '250 2.1.0 Accepted'],
    ['', '250 2.1.0 Accepted'],
  ];
  for (const [from, expected] of rows) {
    const { talk } = await connectFrom(port, OUTSIDE);
    assert.deepEqual(await envelope(talk, from, []), [expected], from);
    talk.close();
  }
  // The relay network is not checked (no DNS query at all).
  const trusted = await connectFrom(port, '127.0.0.1');
  assert.deepEqual(await envelope(trusted.talk, 'a@nowhere2.example', []), ['250 2.1.0 Accepted']);
  trusted.talk.close();
  assert.match(await sendFrom(port, OUTSIDE, { from: 'alice@other.example', to: ['bob@example.test'] }), /^250 /);
  await sink.waitFor(1);
});

test('checks.toml: unknown_reply = "defer" answers 450, on_dns_error = "accept" lets a failed lookup through', async (t) => {
  const { harness } = await relayWith(t, { checks: '[sender_domain]\nunknown_reply = "defer"\non_dns_error = "accept"\n' });
  const { talk } = await connectFrom(harness.port('mx'), OUTSIDE);
  assert.deepEqual(await envelope(talk, 'a@nowhere.example', []), ['450 4.1.8 <a@nowhere.example>: Sender address rejected: Domain not found']);
  assert.deepEqual(await envelope(talk, 'a@broken.example', [], ''), ['250 2.1.0 Accepted']);
  talk.close();
});

// Each payload hides a second transaction behind an end-of-data that a lax
// upstream might honour. Through the whole relay they must never arrive as two.
const SMUGGLED = 'MAIL FROM:<evil@other.example>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n';
const PAYLOADS: ReadonlyArray<readonly [string, string]> = [
  ['<LF>.<LF>', `Subject: cover\r\n\r\ncover text\n.\n${SMUGGLED}`],
  ['<LF>.<CR><LF>', `Subject: cover\r\n\r\ncover text\n.\r\n${SMUGGLED}`],
  ['<CR>.<CR><LF>', `Subject: cover\r\n\r\ncover text\r.\r\n${SMUGGLED}`],
];

test('smuggling payloads are refused with 550 5.6.0 and nothing of them reaches the upstream', async (t) => {
  const { harness, sink } = await relayWith(t);
  const { talk } = await connectFrom(harness.port('mx'), OUTSIDE);
  await talk.command('EHLO client.example.net');
  for (const [name, body] of PAYLOADS) {
    await envelope(talk, 'a@other.example', ['bob@example.test'], '');
    const reply = await data(talk, body);
    assert.match(reply.lines[0] ?? '', /^550 5\.6\.0 /, name);
  }
  // An honest message afterwards, on the same connection: the session is in step.
  await envelope(talk, 'a@other.example', ['bob@example.test'], '');
  assert.equal((await data(talk, 'Subject: honest\r\n\r\nfine')).code, 250);
  talk.close();
  await sink.waitFor(1);
  await waitFor(() => harness.relay.spool.stats().size === 0, 5000, 'delivered');
  assert.equal(sink.messages.length, 1);
  assert.doesNotMatch(sink.messages[0]?.raw.toString('latin1') ?? '', /smuggled/);
  assert.ok(!sink.messages.some((m) => m.from === 'evil@other.example'));
});

test('with bare_line_endings = "normalize" each payload arrives as exactly one message, the smuggled text inside it', async (t) => {
  const { harness, sink } = await relayWith(t, { config: '[smtp]\nbare_line_endings = "normalize"\n' });
  const { talk } = await connectFrom(harness.port('mx'), OUTSIDE);
  await talk.command('EHLO client.example.net');
  for (const [name, body] of PAYLOADS) {
    await envelope(talk, 'a@other.example', ['bob@example.test'], '');
    assert.equal((await data(talk, body)).code, 250, name);
  }
  talk.close();
  await sink.waitFor(3);
  await waitFor(() => harness.relay.spool.stats().size === 0, 5000, 'delivered');
  assert.equal(sink.messages.length, 3, 'three messages, not six');
  for (const message of sink.messages) {
    assert.equal(message.from, 'a@other.example');
    assert.deepEqual(message.to, ['bob@example.test']);
    const text = message.raw.toString('latin1');
    assert.match(text, /cover text\r\n/);
    assert.match(text, /MAIL FROM:<evil@other\.example>\r\n/, 'the smuggled commands are message text');
    assert.doesNotMatch(text, /[^\r]\n|\r[^\n]/, 'only CRLF line endings');
  }
});

test('a slow client is dropped at its timeouts: idle at idle_timeout, trickling at the connection time limit', async (t) => {
  const { harness, sink } = await relayWith(t, { config: '[smtp]\nidle_timeout = "1s"\ntransaction_timeout = "2500ms"\n' });
  const port = harness.port('mx');
  const idle = await connectFrom(port, OUTSIDE);
  assert.equal(idle.greeting?.code, 220);
  const dropped = await idle.talk.read();
  assert.equal(dropped?.code, 421);
  assert.equal(await idle.talk.read(), null);

  // Slowloris: a message body one byte at a time, never idle long enough for the idle timeout.
  const slow = await connectFrom(port, OUTSIDE);
  await envelope(slow.talk, 'a@other.example', ['bob@example.test']);
  assert.equal((await slow.talk.command('DATA')).code, 354);
  let closedAfter = -1;
  for (let i = 0; i < 60; i++) {
    if (slow.talk.closed) {
      closedAfter = i;
      break;
    }
    slow.talk.write('x');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.ok(closedAfter > 0, 'the relay closed the connection');
  assert.ok(closedAfter > 10, 'not by the idle timeout: the client was never idle that long');
  assert.match((await slow.talk.read())?.lines[0] ?? '', /^421 4\.4\.2 /, 'told why');
  // Its "connection closed" line ends the session: it can queue nothing after that.
  const cut = harness.logs.find((line) => line.msg === 'connection lifetime exceeded');
  await waitFor(() => harness.logs.some((line) => line.msg === 'connection closed' && line.session === cut?.session), 5000, 'the cut session to end');
  assert.equal(sink.messages.length, 0, 'nothing of the half message went anywhere');
  assert.equal(harness.relay.spool.stats().size, 0);
  assert.ok(harness.logs.some((line) => line.msg === 'connection lifetime exceeded'));
});

// Issue 8 end to end, limits: the whole relay (startRelay) on loopback with a
// recording upstream sink. Clients play other hosts from 127.0.0.3/.4; the
// relay network is 127.0.0.1 only. Each limit with its reply code, and a
// flood from one address while another is served and its mail arrives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { startDnsServer } from '../helpers/dns-server.ts';
import { HARNESS_LISTENERS, smarthostTo, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { connectFrom, data, envelope, sendFrom } from '../helpers/abuse-clients.ts';
import { SmtpTalk } from '../helpers/smtp-talk.ts';
import { usersToml } from '../helpers/auth-fixtures.ts';

const FLOODER = '127.0.0.3';
const HONEST = '127.0.0.4';
const NO_DNS_CHECKS = '[sender_domain]\nreject_unknown = false\n';

async function relayWith(t: { after: (fn: () => Promise<void>) => void }, limits: string, extra: { config?: string; policies?: Record<string, string> } = {}): Promise<{ harness: RelayHarness; sink: SmtpSink }> {
  const sink = await startSmtpSink();
  const harness = await startHarness({
    deliveryWorker: false,
    config: HARNESS_LISTENERS + smarthostTo(sink.port) + (extra.config ?? ''),
    policies: { 'local-domains': 'example.test\n', 'relay-networks': '127.0.0.1\n', 'limits.toml': limits, 'checks.toml': NO_DNS_CHECKS, ...extra.policies },
  });
  t.after(async () => {
    await harness.stop();
    await sink.close();
  });
  return { harness, sink };
}

function decisionsOf(harness: RelayHarness, reason: string): Array<Record<string, unknown>> {
  return harness.logs.filter((line) => line.reason === reason);
}

test('a flood from one address is refused at connect while another address is served and its mail arrives', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  dns.add({ name: 'other.example', type: 'MX', data: { preference: 10, exchange: 'mx.other.example' } });
  const { harness, sink } = await relayWith(t, '[ip]\nmax_connections = 3\nconnections = "10/1m"\n', {
    config: `[dns]\nservers = ["${dns.address}"]\ntimeout = "1s"\ntries = 1\n`,
    policies: { 'checks.toml': '' }, // the default checks, sender domain included, through the test DNS server
  });
  const port = harness.port('mx');
  // 30 connections at once from the flooder, all held open until every greeting is in.
  const flood = Array.from({ length: 30 }, () => connectFrom(port, FLOODER));
  const honest = sendFrom(port, HONEST, { from: 'alice@other.example', to: ['bob@example.test'] }, 'during the flood');
  const sessions = await Promise.all(flood);
  const greeted = sessions.filter((s) => s.greeting?.code === 220);
  const refused = sessions.filter((s) => s.greeting?.code === 421);
  assert.equal(greeted.length, 3, 'max_connections = 3 for one address');
  assert.equal(refused.length, 27);
  for (const { greeting } of refused) assert.match(greeting?.lines[0] ?? '', /^421 4\.7\.0 /);
  // A 421 at connect closes the connection.
  for (const { talk } of refused) assert.equal(await talk.read(), null);
  assert.match(await honest, /^250 2\.0\.0 Ok: queued as /);
  await sink.waitFor(1);
  assert.equal(sink.messages[0]?.from, 'alice@other.example');
  assert.match(sink.messages[0]?.raw.toString('latin1') ?? '', /Subject: during the flood/);
  // The log names the rule and the client.
  await waitFor(() => decisionsOf(harness, 'conn.limit').length === 27, 2000, 'decisions logged');
  assert.ok(decisionsOf(harness, 'conn.limit').every((line) => line.client === FLOODER), JSON.stringify(decisionsOf(harness, 'conn.limit')[0]));
  for (const { talk } of greeted) talk.close();
});

test('connection rate per address: 421 4.7.0 past the window\'s count; another address is not affected', async (t) => {
  const { harness } = await relayWith(t, '[ip]\nconnections = "3/1h"\n');
  const port = harness.port('mx');
  for (let i = 0; i < 3; i++) {
    const { talk, greeting } = await connectFrom(port, FLOODER);
    assert.equal(greeting?.code, 220, `connection ${i + 1}`);
    await talk.command('QUIT');
    talk.close();
  }
  const { talk, greeting } = await connectFrom(port, FLOODER);
  assert.match(greeting?.lines[0] ?? '', /^421 4\.7\.0 /);
  assert.equal(await talk.read(), null, 'and closed');
  const other = await connectFrom(port, HONEST);
  assert.equal(other.greeting?.code, 220);
  other.talk.close();
});

test('the global connection cap holds for everyone, relay networks included; a closed connection makes room', async (t) => {
  const { harness } = await relayWith(t, '[global]\nmax_connections = 2\n');
  const port = harness.port('mx');
  const one = await connectFrom(port, FLOODER);
  const two = await connectFrom(port, HONEST);
  const trusted = await connectFrom(port, '127.0.0.1');
  assert.deepEqual([one.greeting?.code, two.greeting?.code], [220, 220]);
  assert.match(trusted.greeting?.lines[0] ?? '', /^421 4\.7\.0 /);
  one.talk.close();
  // Released when the front door sees the close.
  await waitFor(async () => {
    const next = await connectFrom(port, '127.0.0.1');
    next.talk.close();
    return next.greeting?.code === 220;
  }, 3000, 'room after a close');
  two.talk.close();
});

test('messages per address: 450 4.7.1 at MAIL past the limit; transactions given up before DATA do not count', async (t) => {
  const { harness, sink } = await relayWith(t, '[ip]\nmessages = "2/1h"\n');
  const { talk } = await connectFrom(harness.port('mx'), FLOODER);
  for (let i = 0; i < 4; i++) {
    assert.deepEqual(await envelope(talk, 'a@other.example', ['bob@example.test'], i === 0 ? 'client.example.net' : ''), ['250 2.1.0 Accepted', '250 2.1.5 Accepted']);
    await talk.command('RSET');
  }
  for (let i = 0; i < 2; i++) {
    await envelope(talk, 'a@other.example', ['bob@example.test'], '');
    assert.equal((await data(talk, `Subject: ${i}\r\n\r\nhello`)).code, 250);
  }
  const refused = await envelope(talk, 'a@other.example', ['bob@example.test'], '');
  assert.deepEqual(refused, ['450 4.7.1 Rate limit exceeded, try again later']);
  await sink.waitFor(2);
  talk.close();
  assert.ok(decisionsOf(harness, 'mail.rate').length >= 1);
});

test('recipients per address: 450 4.7.1 at RCPT past the limit; refused recipients do not count', async (t) => {
  const { harness } = await relayWith(t, '[ip]\nrecipients = "2/1h"\n');
  const { talk } = await connectFrom(harness.port('mx'), FLOODER);
  const replies = await envelope(talk, 'a@other.example', ['x@foreign.example', 'y@foreign.example', 'b1@example.test', 'b2@example.test', 'b3@example.test']);
  assert.deepEqual(replies.map((line) => line.slice(0, 9)), ['250 2.1.0', '554 5.7.1', '554 5.7.1', '250 2.1.5', '250 2.1.5', '450 4.7.1']);
  talk.close();
});

test('an authenticated user\'s quota from users.toml: 450 4.7.1 at MAIL once used up, the per-IP limits do not apply', async (t) => {
  const users = (await usersToml([{ name: 'alice', password: 'correct horse', senders: ['alice@example.test'] }])).replace(/(senders = .*\n)/, '$1quota = { messages_per_hour = 2 }\n');
  const { harness, sink } = await relayWith(t, '[ip]\nmessages = "1/1h"\n', { policies: { 'users.toml': users } });
  const talk = await SmtpTalk.connect({ port: harness.port('submission'), localAddress: FLOODER });
  await talk.read();
  await talk.command('EHLO client.example.net');
  assert.equal((await talk.starttls()).code, 220);
  await talk.command('EHLO client.example.net');
  assert.equal((await talk.command(`AUTH PLAIN ${Buffer.from('\0alice\0correct horse').toString('base64')}`)).code, 235);
  for (let i = 0; i < 2; i++) {
    assert.deepEqual((await envelope(talk, 'alice@example.test', ['carol@foreign.example'], '')).map((l) => l.slice(0, 3)), ['250', '250']);
    assert.equal((await data(talk, `Subject: quota ${i}\r\n\r\nhello`)).code, 250);
  }
  assert.deepEqual(await envelope(talk, 'alice@example.test', ['carol@foreign.example'], ''), ['450 4.7.1 Rate limit exceeded, try again later']);
  await sink.waitFor(2);
  talk.close();
  await waitFor(() => decisionsOf(harness, 'quota.exceeded').length === 1, 2000, 'quota decision logged');
});

test('message limits: SIZE advertised, declared and actual size 552 5.3.4, too many recipients 452 4.5.3', async (t) => {
  const { harness, sink } = await relayWith(t, '', { config: '[smtp]\nmax_message_size = "10KB"\nmax_recipients = 2\n' });
  const { talk } = await connectFrom(harness.port('mx'), FLOODER);
  const ehlo = await talk.command('EHLO client.example.net');
  assert.ok(ehlo.lines.some((line) => /^250[- ]SIZE 10240$/.test(line)), ehlo.text);
  assert.match((await talk.command('MAIL FROM:<a@other.example> SIZE=20000')).lines[0] ?? '', /^552 5\.3\.4 /);
  const replies = await envelope(talk, 'a@other.example', ['b1@example.test', 'b2@example.test', 'b3@example.test'], '');
  assert.deepEqual(replies.map((line) => line.slice(0, 9)), ['250 2.1.0', '250 2.1.5', '250 2.1.5', '452 4.5.3']);
  const tooBig = await data(talk, `Subject: big\r\n\r\n${`${'y'.repeat(998)}\r\n`.repeat(12)}`);
  assert.match(tooBig.lines[0] ?? '', /^552 5\.3\.4 /);
  await envelope(talk, 'a@other.example', ['b1@example.test'], '');
  assert.equal((await data(talk, 'Subject: small\r\n\r\nfits')).code, 250);
  talk.close();
  await sink.waitFor(1);
  await waitFor(() => harness.relay.spool.stats().size === 0, 5000, 'delivered');
  assert.equal(sink.messages.length, 1);
  assert.match(sink.messages[0]?.raw.toString('latin1') ?? '', /Subject: small/);
});

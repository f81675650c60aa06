// Issue 18 item 4: the milter listener over real sockets, in the whole relay
// (startRelay), with the test DNS server as the only resolver. A raw client
// speaks the binary protocol as Postfix does (test/helpers/milter-client.ts):
// negotiation, each callback, pipelined packets, the DATA rules at end of
// body (size, bare line endings), abort mid-message, and bad input (garbage,
// oversized packets, unknown commands, a stalled packet, the time budget),
// each of which costs only its own connection. Refusals are the replies the
// front door gives (src/policy/replies.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { HARNESS_LISTENERS, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { describe, frame, MilterClient, packets, POSTFIX_PROTOCOL } from '../helpers/milter-client.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { usersToml } from '../helpers/auth-fixtures.ts';
import { replyFor } from '../../src/policy/replies.ts';
import { formatReply } from '../../src/policy/decision.ts';

const LISTED = '127.0.0.5';
const ZONE = 'bl.test';

interface Setup {
  readonly harness: RelayHarness;
  readonly dns: TestDnsServer;
  connect(): Promise<MilterClient>;
}

async function setup(
  t: { after(fn: () => Promise<void>): void },
  options: { milter?: string; smtp?: string; dnsTimeout?: string; policies?: Record<string, string> } = {},
): Promise<Setup> {
  const dns = await startDnsServer();
  for (const ip of ['127.0.0.2', LISTED]) dns.add({ name: `${ip.split('.').reverse().join('.')}.${ZONE}`, type: 'A', data: '127.0.0.2' });
  const harness = await startHarness({
    deliveryWorker: false,
    config: `${HARNESS_LISTENERS}
[smtp]
max_message_size = "2k"
${options.smtp ?? ''}
[dns]
servers = ["${dns.address}"]
timeout = "${options.dnsTimeout ?? '1s'}"
tries = 1

[milter]
enabled = true
address = "127.0.0.1:0"
${options.milter ?? ''}
`,
    policies: {
      'local-domains': 'example.test\n',
      'relay-networks': '127.0.0.1\n',
      'dnsbl.toml': `threshold = 1\ncheck_private_clients = true\n[[zones]]\nzone = "${ZONE}"\n`,
      ...options.policies,
    },
  });
  const clients: MilterClient[] = [];
  t.after(async () => {
    for (const client of clients) client.close();
    await harness.stop();
    await dns.close();
  });
  const address = harness.relay.milter;
  assert.ok(address?.kind === 'inet', 'the milter listens on TCP');
  return {
    harness,
    dns,
    async connect() {
      const client = await MilterClient.connect({ port: address.port });
      clients.push(client);
      return client;
    },
  };
}

/** Negotiation, CONNECT, HELO, MAIL as Postfix sends them; returns the replies as text. */
async function open(client: MilterClient, ip = '127.0.0.3'): Promise<string[]> {
  await client.negotiate();
  client.send(packets.macro('C', { j: 'postfix.test', '{daemon_addr}': '127.0.0.1', _: `client.example.net [${ip}]` }));
  const replies = [describe(await client.ask(packets.connect(ip)))];
  replies.push(describe(await client.ask(packets.helo('client.example.net'))));
  client.send(packets.macro('M', { '{mail_addr}': 'alice@sender.example' }));
  replies.push(describe(await client.ask(packets.mail('<alice@sender.example>', 'SIZE=100', 'BODY=8BITMIME'))));
  return replies;
}

test('negotiation asks only for what it needs, of what the MTA offers', async (t) => {
  const plain = await setup(t);
  const client = await plain.connect();
  const offer = await client.negotiate();
  assert.equal(offer.version, 6);
  assert.equal(offer.actions, 0, 'no decision header: no actions');
  // No EOH/UNKNOWN callbacks, no reply wanted to a header, header values with their leading space.
  assert.equal(offer.protocol, 0x40 | 0x100 | 0x80 | 0x40000 | 0x20000 | 0x100000);
  // An MTA offering less gets no flag it did not offer.
  const older = await plain.connect();
  const reply = await older.ask(packets.optneg(2, 0x3f, 0x7f));
  assert.equal(reply?.kind, 'O');
  assert.deepEqual([reply?.data.readUInt32BE(0), reply?.data.readUInt32BE(4), reply?.data.readUInt32BE(8)], [2, 0, 0x40]);

  const header = await setup(t, { milter: 'decision_header = "X-Relayguard"\n' });
  const withHeader = await header.connect();
  assert.equal((await withHeader.negotiate()).actions, 0x01, 'ADDHDRS to add the decision header');
  assert.ok(POSTFIX_PROTOCOL & 0x100000);
});

test('each callback through the session driver: the front door\'s refusals as REPLYCODE, the decision header at end of body', async (t) => {
  const { harness, connect } = await setup(t, { milter: 'decision_header = "X-Relayguard"\n' });
  const client = await connect();
  assert.deepEqual(await open(client), ['c', 'c', 'c']);
  client.send(packets.macro('R', { i: '4XyZ1' }));
  assert.equal(describe(await client.ask(packets.rcpt('<bob@example.test>'))), 'c');
  // A relay attempt: refused, that recipient only, with the front door's exact reply.
  assert.equal(describe(await client.ask(packets.rcpt('<victim@foreign.test>'))), `y ${formatReply(replyFor('relay.denied', 'victim@foreign.test'))}`);
  assert.equal(describe(await client.ask(packets.data())), 'c');
  // Headers want no reply (NR_HDR); body chunks are measured and answered.
  client.send(packets.header('Subject', ' hello'), packets.header('From', ' alice@sender.example'), packets.eoh());
  assert.equal(describe(await client.ask(packets.body('hello\r\n'))), 'c');
  client.send(packets.macro('E', { i: '4XyZ1' }));
  assert.equal(describe(await client.ask(packets.eob())), 'h X-Relayguard:  pass (relay.test; rule=local-domains; reason=rcpt.local_domain)', 'the value with its leading space (HDR_LEADSPC)');
  assert.equal(describe(await client.reply()), 'c');
  client.send(packets.quit());
  await client.closedByServer();

  await waitFor(() => harness.logs.some((l) => l.msg === 'decision' && l.reason === 'relay.denied' && l.source === 'milter'), 5000, 'relay refusal logged');
  const relayLine = harness.logs.find((l) => l.msg === 'decision' && l.reason === 'relay.denied' && l.source === 'milter');
  assert.equal(relayLine?.to, 'victim@foreign.test');
  assert.equal(relayLine?.client, '127.0.0.3');
  assert.equal(relayLine?.queue_id ?? relayLine?.queueId, '4XyZ1');
  const text = await harness.relay.dashboard?.metrics.render();
  assert.match(text ?? '', /relayguard_decisions_by_source_total\{source="milter",verdict="reject"\} 1/);
  assert.match(text ?? '', /relayguard_milter_replies_total\{reply="reject"\} 1\n/);
  assert.match(text ?? '', /relayguard_milter_replies_total\{reply="addheader"\} 1\n/);
  // The dashboard marks the refusal as the milter's.
  assert.ok(harness.relay.dashboard?.traffic.snapshot().recentRefusals.some((r) => r.reason === 'relay.denied' && r.source === 'milter'));

  // A DNSBL-listed client: refused at RCPT, as the front door refuses it.
  const listed = await connect();
  assert.deepEqual(await open(listed, LISTED), ['c', 'c', 'c']);
  const refusal = describe(await listed.ask(packets.rcpt('<bob@example.test>')));
  assert.match(refusal, /^y 554 5\.7\.1 Service unavailable; client \[127\.0\.0\.5\] blocked using bl\.test$/);
});

test('end of data: over the size limit refused while the body streams, a bare CR or LF refused, a clean message passes', async (t) => {
  const { harness, connect } = await setup(t);
  const size = await connect();
  await open(size);
  assert.equal(describe(await size.ask(packets.rcpt('<bob@example.test>'))), 'c');
  assert.equal(describe(await size.ask(packets.data())), 'c');
  size.send(packets.header('Subject', ' big'));
  assert.equal(describe(await size.ask(packets.body(`${'x'.repeat(998)}\r\n`))), 'c');
  // Past 2k: refused at once (as the front door stops reading), and again at end of body.
  const sizeReply = `y ${formatReply(replyFor('data.size_exceeded'))}`;
  assert.equal(describe(await size.ask(packets.body(`${'x'.repeat(998)}\r\n`.repeat(2)))), sizeReply);
  assert.equal(describe(await size.ask(packets.eob())), sizeReply);
  // The session goes on: the next message is judged afresh.
  assert.equal(describe(await size.ask(packets.mail('<alice@sender.example>'))), 'c');
  assert.equal(describe(await size.ask(packets.rcpt('<bob@example.test>'))), 'c');
  assert.equal(describe(await size.ask(packets.data())), 'c');
  assert.equal(describe(await size.ask(packets.body('small\r\n'))), 'c');
  assert.equal(describe(await size.ask(packets.eob())), 'c');

  for (const [what, body] of [['bare LF', 'one\ntwo\r\n'], ['bare CR', 'one\rtwo\r\n']] as const) {
    const client = await connect();
    await open(client);
    assert.equal(describe(await client.ask(packets.rcpt('<bob@example.test>'))), 'c');
    assert.equal(describe(await client.ask(packets.data())), 'c');
    assert.equal(describe(await client.ask(packets.body(body))), `y ${formatReply(replyFor('data.bare_line_ending'))}`, what);
  }
  assert.ok(harness.logs.some((l) => l.msg === 'decision' && l.reason === 'data.size_exceeded' && l.source === 'milter'));
  assert.ok(harness.logs.some((l) => l.msg === 'decision' && l.reason === 'data.bare_line_ending' && l.source === 'milter'));
});

test('pipelined packets are answered in order; ABORT mid-message forgets it; QUIT_NC starts another session', async (t) => {
  const { connect } = await setup(t);
  const client = await connect();
  client.send(
    packets.optneg(),
    packets.connect('127.0.0.3'),
    packets.helo('client.example.net'),
    packets.mail('<alice@sender.example>'),
    packets.rcpt('<victim@foreign.test>'),
    packets.rcpt('<bob@example.test>'),
    packets.data(),
    packets.header('Subject', ' pipelined'),
    packets.body('x'.repeat(3000)),
    packets.abort(),
    packets.mail('<alice@sender.example>'),
    packets.rcpt('<bob@example.test>'),
    packets.data(),
    packets.body('fine\r\n'),
    packets.eob(),
    packets.quitNc(),
    packets.connect('127.0.0.4'),
    packets.helo('other.example.net'),
    packets.mail('<carol@sender.example>'),
    packets.quit(),
  );
  const replies: string[] = [];
  for (;;) {
    const reply = await client.reply();
    if (reply === null) break;
    replies.push(reply.kind === 'O' ? 'O' : describe(reply));
  }
  assert.deepEqual(replies, [
    'O', 'c', 'c', 'c',
    `y ${formatReply(replyFor('relay.denied', 'victim@foreign.test'))}`, 'c', 'c',
    // The aborted message's oversized body is refused; the next message is judged afresh.
    `y ${formatReply(replyFor('data.size_exceeded'))}`,
    'c', 'c', 'c', 'c', 'c',
    // After QUIT_NC: a new session on the same connection.
    'c', 'c', 'c',
  ]);
});

test('bad input closes only its own connection, with one log line: garbage, oversized, unknown command, out of order', async (t) => {
  const { harness, connect } = await setup(t);
  const cases: Array<[string, Buffer, string]> = [
    ['garbage', Buffer.from('EHLO client.example.net\r\n'), 'packet_too_large'],
    ['oversized', (() => { const b = Buffer.alloc(5); b.writeUInt32BE(300 * 1024); b.write('B', 4); return b; })(), 'packet_too_large'],
    ['empty', Buffer.from([0, 0, 0, 0]), 'empty_packet'],
    ['unknown command', frame('Z', Buffer.from('x')), 'bad_command'],
    ['MAIL before CONNECT', packets.mail('<a@b.example>'), 'bad_data'],
    ['CONNECT without its NULs', frame('C', Buffer.from('host')), 'bad_data'],
  ];
  for (const [what, bytes, problem] of cases) {
    const bystander = await connect();
    await open(bystander);
    const bad = await connect();
    await bad.negotiate();
    bad.send(bytes);
    await bad.closedByServer();
    await waitFor(() => harness.logs.filter((l) => l.event === 'milter.closed' && l.problem === problem).length >= 1, 5000, `${what} logged`);
    // The other connection is untouched.
    assert.equal(describe(await bystander.ask(packets.rcpt('<bob@example.test>'))), 'c', what);
    bystander.close();
  }
  // One line per closed connection.
  assert.equal(harness.logs.filter((l) => l.event === 'milter.closed').length, cases.length);
  const text = await harness.relay.dashboard?.metrics.render();
  assert.match(text ?? '', new RegExp(`relayguard_milter_bad_input_total ${cases.length}\\n`));
});

test('a stalled packet holds only its own connection; an answer past command_timeout closes that connection', async (t) => {
  const { harness, connect, dns } = await setup(t, { milter: 'command_timeout = "400ms"\n', dnsTimeout: '3s' });
  const slow = await connect();
  await slow.negotiate();
  // Half a CONNECT packet, then nothing.
  slow.send(packets.connect('127.0.0.3').subarray(0, 9));
  const other = await connect();
  assert.deepEqual(await open(other), ['c', 'c', 'c']);
  await slow.closedByServer();
  await waitFor(() => harness.logs.some((l) => l.event === 'milter.closed' && l.problem === 'slow_packet'), 5000, 'stalled packet logged');

  // DNS that never answers in time: the RCPT's DNSBL lookup outlasts the budget.
  dns.timeout(`${'127.0.0.9'.split('.').reverse().join('.')}.${ZONE}`);
  const late = await connect();
  assert.deepEqual(await open(late, '127.0.0.9'), ['c', 'c', 'c']);
  const started = Date.now();
  late.send(packets.rcpt('<bob@example.test>'));
  await late.closedByServer();
  assert.ok(Date.now() - started < 2500, 'closed within the budget, not after the DNS timeout');
  await waitFor(() => harness.logs.some((l) => l.event === 'milter.closed' && l.problem === 'command_timeout'), 5000, 'budget overrun logged');
  assert.equal(describe(await other.ask(packets.rcpt('<bob@example.test>'))), 'c', 'the other connection still answers');
});

test('macros: {auth_authen} is the authenticated user, {daemon_port} a submission port', async (t) => {
  // Postfix checked the password; relayguard's users.toml still says which senders alice may use.
  const users = await usersToml([{ name: 'alice', password: 'unused-here', senders: ['alice@sender.example'] }]);
  const { harness, connect } = await setup(t, { policies: { 'users.toml': users } });
  const session = async (macros: Record<string, string>, sender: string): Promise<string> => {
    const client = await connect();
    await client.negotiate();
    client.send(packets.macro('C', { '{daemon_addr}': '127.0.0.1', '{daemon_port}': '587' }));
    assert.equal(describe(await client.ask(packets.connect('127.0.0.3'))), 'c');
    client.send(packets.macro('H', { '{tls_version}': 'TLSv1.3' }));
    assert.equal(describe(await client.ask(packets.helo('client.example.net'))), 'c');
    client.send(packets.macro('M', macros));
    const mail = describe(await client.ask(packets.mail(`<${sender}>`)));
    if (mail !== 'c') return mail;
    return describe(await client.ask(packets.rcpt('<friend@foreign.test>')));
  };
  // alice relays out from her own address.
  assert.equal(await session({ '{auth_type}': 'PLAIN', '{auth_authen}': 'alice' }, 'alice@sender.example'), 'c');
  // Not hers: the front door's 553.
  assert.equal(await session({ '{auth_type}': 'PLAIN', '{auth_authen}': 'alice' }, 'ceo@sender.example'), `y ${formatReply(replyFor('mail.sender_not_owned', 'alice'))}`);
  // On the submission port without AUTH: the front door's 530.
  assert.equal(await session({}, 'alice@sender.example'), `y ${formatReply(replyFor('mail.auth_required'))}`);
  await waitFor(() => harness.logs.some((l) => l.msg === 'decision' && l.reason === 'mail.sender_not_owned' && l.source === 'milter'), 5000, 'logged');
  const line = harness.logs.find((l) => l.msg === 'decision' && l.reason === 'mail.sender_not_owned' && l.source === 'milter');
  assert.equal(line?.listener, 'milter:submission');
  assert.equal(line?.user, 'alice');
});

test('an MTA that offers no NR_HDR/NOEOH gets a reply to each header and EOH; a client that is not an IP is not judged (ACCEPT)', async (t) => {
  const { harness, connect } = await setup(t);
  const old = await connect();
  const offer = await old.ask(packets.optneg(6, 0x1ff, 0x3f));
  assert.equal(offer?.data.readUInt32BE(8), 0, 'none of the wanted flags offered');
  assert.equal(describe(await old.ask(packets.connect('127.0.0.3'))), 'c');
  assert.equal(describe(await old.ask(packets.helo('client.example.net'))), 'c');
  assert.equal(describe(await old.ask(packets.mail('<alice@sender.example>'))), 'c');
  assert.equal(describe(await old.ask(packets.rcpt('<bob@example.test>'))), 'c');
  assert.equal(describe(await old.ask(packets.data())), 'c');
  assert.equal(describe(await old.ask(packets.header('Subject', 'no leading space'))), 'c');
  assert.equal(describe(await old.ask(packets.eoh())), 'c');
  assert.equal(describe(await old.ask(packets.body('hi\r\n'))), 'c');
  assert.equal(describe(await old.ask(packets.eob())), 'c');

  // A Unix-socket client (family L) or an unknown one (U): nothing to judge it by.
  for (const family of ['L', 'U']) {
    const local = await connect();
    await local.negotiate();
    const connectPacket = family === 'U' ? frame('C', Buffer.from('localhost\0U')) : packets.connect('/var/run/x.sock', 0, 'localhost', 'L');
    assert.equal(describe(await local.ask(connectPacket)), 'a', family);
    assert.equal(describe(await local.ask(packets.helo('localhost'))), 'a', 'and so for the rest of the session');
  }
  assert.equal(harness.logs.filter((l) => l.event === 'milter.unjudged').length, 2);
});

test('a Unix socket instead of TCP', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-milter-'));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const socket = path.join(dir, 'milter.sock');
  const harness = await startHarness({ deliveryWorker: false, config: `${HARNESS_LISTENERS}\n[milter]\nenabled = true\nsocket = "${socket}"\n`, policies: { 'local-domains': 'example.test\n' } });
  t.after(() => harness.stop());
  assert.deepEqual(harness.relay.milter, { kind: 'unix', path: socket });
  const client = await MilterClient.connect({ path: socket });
  t.after(() => client.close());
  await client.negotiate();
  assert.equal(describe(await client.ask(packets.connect('127.0.0.3'))), 'c');
});

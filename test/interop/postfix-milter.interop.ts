// Issue 18 item 4 with a real Postfix: Debian's postfix, a private instance
// per test (test/helpers/postfix-instance.ts), using relayguard as its milter
// (smtpd_milters = inet:127.0.0.1:PORT), delivering to a recording sink.
// Checked: what Postfix answers its client and what reaches the sink, for a
// clean message (delivered, with relayguard's decision header), a message
// over relayguard's size limit (refused at end of data with relayguard's
// reply), bare line endings (what Postfix hands a milter: a bare LF arrives
// as CRLF, a bare CR as a space: neither can be seen), a DNSBL-listed client
// (refused at RCPT); then
// what Postfix does once relayguard is stopped or too slow: its
// milter_default_action, tempfail by default, accept when configured. And
// non_smtpd_milters: mail from the sendmail command, judged as from
// localhost [127.0.0.1], bounced by Postfix when refused.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { postfixMissing, startPostfix, type PostfixInstance } from '../helpers/postfix-instance.ts';
import { SmtpTalk } from '../helpers/smtp-talk.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { replyFor } from '../../src/policy/replies.ts';
import { formatReply } from '../../src/policy/decision.ts';

const missing = postfixMissing();
const LISTED = '127.0.0.5';
const ZONE = 'bl.test';
const DENIED = '127.0.0.6';

interface Setup {
  readonly sink: SmtpSink;
  readonly relay: RelayHarness;
  readonly postfix: PostfixInstance;
  readonly dns: TestDnsServer;
}

async function setup(t: TestContext, main: Readonly<Record<string, string>> = {}, milter = '', dnsTimeout = '1s'): Promise<Setup> {
  const dns = await startDnsServer();
  // 127.0.0.2 is the zone's RFC 5782 test entry (a zone that does not list it is not used).
  for (const ip of ['127.0.0.2', LISTED]) dns.add({ name: `${ip.split('.').reverse().join('.')}.${ZONE}`, type: 'A', data: '127.0.0.2' });
  const sink = await startSmtpSink();
  const relay = await startHarness({
    deliveryWorker: false,
    config: `${HARNESS_LISTENERS}
[smtp]
max_message_size = "8k"

[dns]
servers = ["${dns.address}"]
timeout = "${dnsTimeout}"
tries = 1

[milter]
enabled = true
address = "127.0.0.1:0"
decision_header = "X-Relayguard"
${milter}`,
    policies: {
      'local-domains': 'example.test\n',
      'relay-networks': '127.0.0.1\n',
      'dnsbl.toml': `threshold = 1\ncheck_private_clients = true\n[[zones]]\nzone = "${ZONE}"\n`,
      denylist: `${DENIED} Go away\n`,
    },
  });
  const address = relay.relay.milter;
  assert.ok(address?.kind === 'inet');
  const next = `smtp:[127.0.0.1]:${sink.port}`;
  const postfix = await startPostfix({
    main: {
      relay_domains: 'example.test',
      default_transport: next,
      relay_transport: next,
      smtpd_milters: `inet:127.0.0.1:${address.port}`,
      milter_protocol: '6',
      ...main,
    },
  });
  t.after(async () => {
    await postfix.stop();
    await relay.stop();
    await sink.close();
    await dns.close();
  });
  return { sink, relay, postfix, dns };
}

interface Sent {
  readonly greeting: string;
  readonly mail: string;
  readonly rcpt: string;
  readonly data?: string;
}

/** One SMTP session to Postfix from `client`: MAIL, RCPT, and the message (raw, ending CRLF) if RCPT was accepted. */
async function send(postfix: PostfixInstance, client: string, message: string, to = 'bob@example.test'): Promise<Sent> {
  const talk = await SmtpTalk.connect({ port: postfix.smtpPort, localAddress: client, timeoutMs: 20_000 });
  try {
    const greeting = (await talk.read())?.lines.join(' | ') ?? 'closed';
    // Postfix greets a client its milter refused at CONNECT with 554 and goes on, refusing each command.
    if (!greeting.startsWith('220') && !greeting.startsWith('554')) return { greeting, mail: '', rcpt: '' };
    await talk.command('EHLO client.example.net');
    const mail = (await talk.command('MAIL FROM:<alice@sender.example>')).lines.join(' | ');
    if (!mail.startsWith('250')) return { greeting, mail, rcpt: '' };
    const rcpt = (await talk.command(`RCPT TO:<${to}>`)).lines.join(' | ');
    if (!rcpt.startsWith('250')) return { greeting, mail, rcpt };
    const go = await talk.command('DATA');
    assert.equal(go.code, 354, go.text);
    talk.write(`${message}.\r\n`);
    const done = await talk.read();
    await talk.command('QUIT');
    return { greeting, mail, rcpt, data: done?.lines.join(' | ') ?? 'closed' };
  } finally {
    talk.close();
  }
}

const message = (subject: string, body: string): string => `Subject: ${subject}\r\nFrom: alice@sender.example\r\n\r\n${body}`;

test('Postfix with relayguard as its milter: clean, oversized, bare line endings, listed client', { skip: missing }, async (t) => {
  const { sink, postfix, relay } = await setup(t);

  // A clean message: accepted, delivered, with relayguard's header.
  const clean = await send(postfix, '127.0.0.3', message('clean', 'hello\r\n'));
  assert.match(clean.data ?? '', /^250 2\.0\.0 Ok: queued as /);
  await sink.waitFor(1);
  assert.match(sink.messages[0]?.raw.toString('latin1') ?? '', /^X-Relayguard: pass \(relay\.test; rule=local-domains; reason=rcpt\.local_domain\)\r\n/m);

  // Over relayguard's size limit (8k; Postfix's own is 10 MB): refused at end of data, relayguard's reply word for word.
  const big = await send(postfix, '127.0.0.3', message('big', `${'x'.repeat(998)}\r\n`.repeat(10)));
  assert.equal(big.data, formatReply(replyFor('data.size_exceeded')));
  assert.match(await postfix.maillog(), /milter-reject: END-OF-MESSAGE from unknown\[127\.0\.0\.3\]: 5\.3\.4 Message size exceeds fixed maximum message size;/);

  // Bare line endings never reach a milter from Postfix (3.7, smtpd_forbid_bare_newline = no): its smtpd
  // ends a line at a bare LF and hands the milter CRLF; a bare CR inside a line becomes a space. Both
  // are delivered, normalized, and relayguard's bare-line-ending rule cannot see them (Postfix's own
  // smtpd_forbid_bare_newline is the setting for that; README).
  const bareLf = await send(postfix, '127.0.0.3', message('bare LF', 'one\ntwo\r\n'));
  assert.match(bareLf.data ?? '', /^250 /);
  const bareCr = await send(postfix, '127.0.0.3', message('bare CR', 'one\rtwo\r\n'));
  assert.match(bareCr.data ?? '', /^250 /);

  // A DNSBL-listed client: relayguard's RCPT refusal, as Postfix passes a milter's reply on.
  const listed = await send(postfix, LISTED, message('listed', 'hi\r\n'));
  assert.equal(listed.rcpt, '554 5.7.1 Service unavailable; client [127.0.0.5] blocked using bl.test');

  // What reached the sink: the clean message and the two normalized ones, nothing else.
  await sink.waitFor(3);
  const raw = (subject: string): string => sink.messages.map((m) => m.raw.toString('latin1')).find((text) => text.includes(`Subject: ${subject}\r\n`)) ?? '';
  assert.deepEqual(sink.messages.map((m) => /Subject: (.*)\r\n/.exec(m.raw.toString('latin1'))?.[1]).sort(), ['bare CR', 'bare LF', 'clean']);
  assert.match(raw('bare LF'), /\r\n\r\none\r\ntwo\r\n$/, 'the bare LF delivered as CRLF');
  assert.match(raw('bare CR'), /\r\n\r\none two\r\n$/, 'the bare CR delivered as a space');
  await waitFor(() => relay.logs.some((l) => l.msg === 'decision' && l.reason === 'data.size_exceeded' && l.source === 'milter'), 5000, 'size refusal logged');
  assert.ok(!relay.logs.some((l) => l.msg === 'decision' && l.reason === 'data.bare_line_ending'), 'the milter never saw a bare line ending');
});

test('relayguard stopped: Postfix tempfails by default (milter_default_action = tempfail), accepts with accept', { skip: missing }, async (t) => {
  const closed = await setup(t);
  await closed.relay.relay.stop();
  const refused = await send(closed.postfix, '127.0.0.3', message('while stopped', 'hi\r\n'));
  assert.equal(refused.mail, '451 4.7.1 Service unavailable - try again later');
  assert.match(await closed.postfix.maillog(), /warning: connect to Milter service inet:127\.0\.0\.1:\d+: Connection refused/);

  const open = await setup(t, { milter_default_action: 'accept' });
  await open.relay.relay.stop();
  const accepted = await send(open.postfix, '127.0.0.3', message('fail open', 'hi\r\n'));
  assert.match(accepted.data ?? '', /^250 /);
  await open.sink.waitFor(1);
  assert.doesNotMatch(open.sink.messages[0]?.raw.toString('latin1') ?? '', /X-Relayguard/);
});

test('a denylisted client refused at connect; an answer past command_timeout: Postfix applies milter_default_action', { skip: missing }, async (t) => {
  const { postfix, dns, sink } = await setup(t, {}, 'command_timeout = "500ms"\n', '5s');
  // Refused at CONNECT: Postfix greets with its own 554 and answers each later command with relayguard's reply.
  const denied = await send(postfix, DENIED, message('denied', 'hi\r\n'));
  assert.equal(denied.greeting, '554 postfix.test ESMTP not accepting connections');
  assert.equal(denied.mail, formatReply(replyFor('denylist.listed', 'Go away')));
  assert.match(await postfix.maillog(), /milter-reject: CONNECT from unknown\[127\.0\.0\.6\]: 554 5\.7\.1 Go away;/);

  // The RCPT's DNSBL lookup outlasts relayguard's command_timeout: relayguard closes that milter
  // connection (one log line) and Postfix's milter_default_action (tempfail) answers its client.
  dns.timeout(`${'127.0.0.9'.split('.').reverse().join('.')}.${ZONE}`);
  const slow = await send(postfix, '127.0.0.9', message('slow', 'hi\r\n'));
  assert.equal(slow.rcpt, '451 4.7.1 Service unavailable - try again later');
  // Another client is judged as usual meanwhile.
  const other = await send(postfix, '127.0.0.3', message('other', 'hi\r\n'));
  assert.match(other.data ?? '', /^250 /);
  await sink.waitFor(1);
});

/** Submits a message with Postfix's sendmail command (pickup, then cleanup runs non_smtpd_milters). */
async function sendmail(postfix: PostfixInstance, to: string, text: string): Promise<{ code: number | null; output: string }> {
  const child = spawn('/usr/sbin/sendmail', ['-C', postfix.configDir, '-f', 'alice@sender.example', to], { env: { ...process.env, MAIL_CONFIG: postfix.configDir }, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stdin.end(text);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, output };
}

test('non_smtpd_milters: mail from the sendmail command is judged as from 127.0.0.1 (localhost)', { skip: missing }, async (t) => {
  const { postfix, sink, relay } = await setup(t, { smtpd_milters: '', non_smtpd_milters: '' });
  const address = relay.relay.milter;
  assert.ok(address?.kind === 'inet');
  await postfix.postconf({ non_smtpd_milters: `inet:127.0.0.1:${address.port}` });
  await postfix.reload();
  const local = await sendmail(postfix, 'carol@foreign.test', 'Subject: local\nFrom: alice@sender.example\n\nhello\n');
  assert.equal(local.code, 0, local.output);
  await sink.waitFor(1);
  // 127.0.0.1 is in relay-networks: relayed out, with the decision header.
  assert.match(sink.messages[0]?.raw.toString('latin1') ?? '', /^X-Relayguard: pass \(relay\.test; rule=relay-networks; reason=relay\.trusted_network\)\r\n/m);
  const big = await sendmail(postfix, 'carol@foreign.test', `Subject: big local\nFrom: alice@sender.example\n\n${`${'x'.repeat(998)}\n`.repeat(10)}`);
  // sendmail has no SMTP client to refuse: Postfix's cleanup bounces it to the sender with relayguard's reply.
  assert.equal(big.code, 0, big.output);
  await sink.waitFor(2);
  const bounce = sink.messages[1];
  assert.equal(bounce?.from, '');
  assert.deepEqual(bounce?.to, ['alice@sender.example']);
  assert.match(bounce?.raw.toString('latin1') ?? '', /Diagnostic-Code: X-Postfix; Message size exceeds fixed maximum message size/);
  assert.match(await postfix.maillog(), /cleanup\[\d+\]: \w+: milter-reject: END-OF-MESSAGE from localhost\[127\.0\.0\.1\]: 5\.3\.4 Message size exceeds fixed maximum message size;/);
});

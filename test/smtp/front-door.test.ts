// The front door over real sockets, with a scripted policy and an in-memory
// intake: what it advertises, how Decisions become replies, the DATA path,
// PROXY protocol and TLS. Policy and spool have their own tests.
import { test } from 'node:test';
import net from 'node:net';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import assert from 'node:assert/strict';
import { SmtpTalk } from '../helpers/smtp-talk.ts';
import { startDoor } from '../helpers/front-door-harness.ts';

test('greeting and EHLO: hostname, the advertised extensions, no AUTH before TLS', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const client = await SmtpTalk.connect({ port: relay.port('submission') });
  const greeting = await client.read();
  assert.equal(greeting?.code, 220);
  assert.match(greeting?.text ?? '', /^relay\.test ESMTP/);
  const ehlo = await client.command('EHLO client.test');
  assert.equal(ehlo.code, 250);
  for (const ext of ['SIZE 26214400', 'PIPELINING', '8BITMIME', 'ENHANCEDSTATUSCODES', 'STARTTLS']) {
    assert.ok(ehlo.lines.some((l) => l.slice(4) === ext), `advertises ${ext}: ${ehlo.lines.join(' | ')}`);
  }
  assert.ok(!ehlo.lines.some((l) => /AUTH/.test(l)), 'no AUTH over plaintext');
  const auth = await client.command('AUTH PLAIN AHVzZXIAcGFzcw==');
  assert.equal(auth.code, 538);
  assert.match(auth.text, /^5\.7\.11 /);
  // The refusal is a Decision like any other (the scripted policy never saw it).
  const refused = relay.events.find((e) => e.decision.reason === 'auth.tls_required');
  assert.equal(refused?.decision.verdict, 'reject');
  assert.equal(refused?.decision.stage, 'auth');
  assert.deepEqual(refused?.decision.detail, { method: 'PLAIN' });
  assert.equal(refused?.listener, 'submission');
  await client.starttls();
  const secureEhlo = await client.command('EHLO client.test');
  assert.ok(secureEhlo.lines.some((l) => /^250[- ]AUTH PLAIN LOGIN/.test(l)), 'AUTH offered after STARTTLS');
  assert.ok(!secureEhlo.lines.some((l) => /STARTTLS/.test(l)));
  client.close();
});

test('a message passes byte for byte with a Received header; refusals carry one enhanced code', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const client = await SmtpTalk.connect({ port: relay.port('mx') });
  await client.read();
  await client.command('EHLO client.test');
  assert.equal((await client.command('MAIL FROM:<Alice@Sender.test> SIZE=100')).code, 250);
  assert.equal((await client.command('RCPT TO:<bob@example.test>')).code, 250);
  assert.equal((await client.command('RCPT TO:<carol@example.test>')).code, 250);
  const refused = await client.command('RCPT TO:<mallory@refused.test>');
  assert.equal(refused.code, 554);
  assert.equal(refused.lines[0], '554 5.7.1 <mallory@refused.test>: Relay access denied');
  assert.equal((await client.command('DATA')).code, 354);
  const body = 'Subject: hi\r\nFrom: alice@sender.test\r\n\r\n..leading dot\r\nline two\r\n\u00e9\r\n';
  client.write(Buffer.from(body.replace(/\r\n\.\./, '\r\n...') , 'latin1'));
  client.write('.\r\n');
  const queued = await client.read();
  assert.equal(queued?.code, 250);
  assert.match(queued?.lines[0] ?? '', /^250 2\.0\.0 Ok: queued as Q1$/);
  const stored = relay.intake.messages[0];
  assert.ok(stored);
  assert.deepEqual(stored.envelope.recipients, ['bob@example.test', 'carol@example.test']);
  assert.equal(stored.envelope.sender, 'alice@sender.test');
  assert.equal(stored.envelope.helo, 'client.test');
  const text = stored.body.toString('latin1');
  assert.match(text, /^Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n\tby relay\.test \(relayguard\) with ESMTP id /);
  assert.ok(text.endsWith(body.replace('..leading', '..leading')), 'body after the header is unchanged (dot-unstuffed once)');
  assert.ok(relay.events.some((e) => e.decision.reason === 'relay.denied' && e.recipient === 'mallory@refused.test'));
  assert.ok(relay.events.some((e) => e.decision.reason === 'data.queued' && e.queueId === 'Q1'));
  await client.command('QUIT');
  client.close();
});

test('bare LF in DATA is refused with 550 5.6.0 and nothing is queued', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const client = await SmtpTalk.connect({ port: relay.port('mx') });
  await client.read();
  await client.command('EHLO client.test');
  await client.command('MAIL FROM:<a@sender.test>');
  await client.command('RCPT TO:<b@example.test>');
  await client.command('DATA');
  client.write('Subject: smuggle\r\n\r\nfirst\n.\nMAIL FROM:<x@evil.test>\r\n.\r\n');
  const reply = await client.read();
  assert.equal(reply?.code, 550);
  assert.match(reply?.lines[0] ?? '', /^550 5\.6\.0 /);
  assert.equal(relay.intake.messages.length, 0);
  assert.equal((await client.command('NOOP')).code, 250, 'the session is still in step');
  client.close();
});

test('implicit TLS listener speaks TLS from the first byte', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const client = await SmtpTalk.connect({ port: relay.port('submissions'), tls: true });
  assert.equal((await client.read())?.code, 220);
  const ehlo = await client.command('EHLO client.test');
  assert.ok(ehlo.lines.some((l) => /AUTH PLAIN LOGIN/.test(l)));
  const auth = await client.command('AUTH PLAIN AHVzZXIAd3Jvbmc=');
  assert.equal(auth.lines[0], '535 5.7.8 Authentication credentials invalid');
  client.close();
});

test('PROXY v1 and v2 from a trusted load balancer set the client address', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const v1 = await SmtpTalk.connect({ port: relay.port('behind-lb'), localAddress: '127.0.0.9', preamble: Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 40000 25\r\n') });
  assert.equal((await v1.read())?.code, 220);
  v1.close();
  const v2header = Buffer.concat([
    Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c]),
    Buffer.from([198, 51, 100, 23, 127, 0, 0, 1, 0x9c, 0x41, 0x00, 0x19]),
  ]);
  const v2 = await SmtpTalk.connect({ port: relay.port('behind-lb'), localAddress: '127.0.0.9', preamble: v2header });
  assert.equal((await v2.read())?.code, 220);
  v2.close();
  assert.deepEqual(relay.seen.map((s) => [s.clientIp, s.peerIp]), [['203.0.113.7', '127.0.0.9'], ['198.51.100.23', '127.0.0.9']]);
});

test('a PROXY header from an untrusted address is refused and changes nothing', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const client = await SmtpTalk.connect({ port: relay.port('behind-lb'), localAddress: '127.0.0.3' });
  assert.equal((await client.read())?.code, 220);
  const reply = await client.command('PROXY TCP4 203.0.113.7 127.0.0.1 40000 25');
  assert.ok(reply.code >= 500, `refused with a permanent error, got ${reply.code}`);
  assert.equal(relay.seen[0]?.clientIp, '127.0.0.3');
  client.close();
  // A trusted peer sending garbage instead of a header is dropped without a session.
  const garbage = await SmtpTalk.connect({ port: relay.port('behind-lb'), localAddress: '127.0.0.9', preamble: Buffer.from('HELLO THERE\r\n') });
  assert.equal(await garbage.read(), null);
  assert.equal(relay.seen.length, 1);
});

test('implicit TLS behind PROXY: a ClientHello in the same segment as the header still gets through', async (t) => {
  const relay = await startDoor('[[listeners]]\nname = "lb-tls"\naddress = "127.0.0.1:0"\nrole = "submission"\ntls = "implicit"\nproxy_protocol_from = ["127.0.0.9/32"]\n');
  t.after(() => relay.stop());
  const socket = net.connect({ port: relay.port('lb-tls'), host: '127.0.0.1', localAddress: '127.0.0.9' });
  await new Promise((resolve) => socket.once('connect', resolve));
  // TLS over this Duplex writes through _write, so the header and the
  // ClientHello leave in one write, as a load balancer may send them: the
  // bytes read past the header must reach the TLS handshake (they are
  // unshifted back into the socket, which Node's TLSSocket reads first).
  const header = Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 40000 465\r\n');
  let first = true;
  const carrier = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      socket.write(first ? Buffer.concat([header, chunk]) : chunk, callback);
      first = false;
    },
  });
  socket.on('data', (chunk) => carrier.push(chunk));
  socket.on('end', () => carrier.push(null));
  const greeting = await new Promise<string>((resolve, reject) => {
    const secure = tls.connect({ socket: carrier, rejectUnauthorized: false }, () => secure.once('data', (d: Buffer) => resolve(d.toString())));
    secure.once('error', reject);
  });
  assert.match(greeting, /^220 relay\.test ESMTP/);
  assert.deepEqual(relay.seen.map((s) => s.clientIp), ['203.0.113.7']);
  socket.destroy();
});

test('a small message and one past the in-memory size of the spool (128 KiB) pass byte for byte after the Received header', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const client = await SmtpTalk.connect({ port: relay.port('mx') });
  await client.read();
  await client.command('EHLO client.test');
  const line = `${'0123456789abcdef'.repeat(4)}\r\n`;
  for (const [subject, lines] of [['small', 10], ['large', 3000]] as const) {
    assert.equal((await client.command('MAIL FROM:<a@sender.test>')).code, 250);
    assert.equal((await client.command('RCPT TO:<b@example.test>')).code, 250);
    assert.equal((await client.command('DATA')).code, 354);
    const body = `Subject: ${subject}\r\n\r\n${line.repeat(lines)}`;
    // In pieces that do not line up with any size boundary.
    const bytes = Buffer.from(body, 'latin1');
    for (let at = 0; at < bytes.length; at += 7_001) client.write(bytes.subarray(at, at + 7_001));
    client.write('.\r\n');
    assert.equal((await client.read())?.code, 250);
    const stored = relay.intake.messages.at(-1);
    const text = stored?.body.toString('latin1') ?? '';
    assert.match(text, /^Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n/);
    assert.equal(text.slice(text.indexOf('Subject: ')), body);
  }
  assert.equal(relay.intake.messages.length, 2);
  client.close();
});

test('a bare LF past the in-memory size of the spool (128 KiB) is still refused with 550 5.6.0, and the session stays in step', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const client = await SmtpTalk.connect({ port: relay.port('mx') });
  await client.read();
  await client.command('EHLO client.test');
  await client.command('MAIL FROM:<a@sender.test>');
  await client.command('RCPT TO:<b@example.test>');
  await client.command('DATA');
  client.write(`Subject: late smuggle\r\n\r\n${`${'x'.repeat(62)}\r\n`.repeat(3000)}`);
  client.write('first\n.\nMAIL FROM:<x@evil.test>\r\n.\r\n');
  const reply = await client.read();
  assert.equal(reply?.code, 550);
  assert.match(reply?.lines[0] ?? '', /^550 5\.6\.0 /);
  assert.equal(relay.intake.messages.length, 0);
  assert.equal((await client.command('NOOP')).code, 250, 'the session is still in step');
  client.close();
});

// Protocol hardening over real sockets: early talkers, command limits, the
// error cap, STARTTLS command injection and timeouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { SmtpTalk } from '../helpers/smtp-talk.ts';
import { startDoor } from '../helpers/front-door-harness.ts';
import { waitFor, watchFor } from '../helpers/wait-for.ts';

test('a client that talks before the greeting is refused; a patient one is served', async (t) => {
  const relay = await startDoor('[smtp]\ngreet_delay = "400ms"\n');
  t.after(() => relay.stop());
  const rude = await SmtpTalk.connect({ port: relay.port('mx'), localAddress: '127.0.0.5' });
  rude.write('EHLO bot.test\r\n');
  const refused = await rude.read();
  assert.equal(refused?.code, 421);
  assert.match(refused?.lines[0] ?? '', /^421 4\.7\.0 /);
  assert.equal(await rude.read(), null, 'and the connection is closed');
  assert.ok(relay.events.some((e) => e.decision.reason === 'conn.early_talker' && e.clientIp === '127.0.0.5'));
  const patient = await SmtpTalk.connect({ port: relay.port('mx') });
  assert.equal((await patient.read())?.code, 220);
  assert.equal((await patient.command('EHLO good.test')).code, 250);
  patient.close();
});

test('over-long command lines and NUL bytes get 500 5.5.2 and the session goes on', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const client = await SmtpTalk.connect({ port: relay.port('mx') });
  await client.read();
  await client.command('EHLO client.test');
  const long = await client.command(`MAIL FROM:<${'a'.repeat(520)}@example.test>`);
  assert.equal(long.lines[0], '500 5.5.2 Line too long');
  const nul = await client.command('NOOP\u0000x');
  assert.equal(nul.lines[0], '500 5.5.2 NUL character in command');
  assert.equal((await client.command('MAIL FROM:<a@example.test>')).code, 250);
  client.close();
});

test('refusals are slowed after tarpit_after_errors and the connection is closed at max_errors', async (t) => {
  const relay = await startDoor('[smtp]\nmax_errors = 4\ntarpit_after_errors = 2\ntarpit_delay = "50ms"\n');
  t.after(() => relay.stop());
  const client = await SmtpTalk.connect({ port: relay.port('mx') });
  await client.read();
  await client.command('EHLO client.test');
  await client.command('MAIL FROM:<a@sender.test>');
  const codes: number[] = [];
  for (let i = 0; i < 4; i++) codes.push((await client.command(`RCPT TO:<u${i}@refused.test>`)).code);
  // The 4th refusal keeps its 554 (a permanent refusal stays permanent); 421 follows and the connection closes.
  assert.deepEqual(codes, [554, 554, 554, 554]);
  assert.equal((await client.read())?.lines[0], '421 4.7.0 Too many errors, closing connection');
  assert.equal(await client.read(), null, 'closed after 421');
  assert.ok(relay.events.some((e) => e.decision.reason === 'proto.too_many_errors'));
});

test('commands pipelined in plaintext after STARTTLS are discarded, never run after the handshake', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const socket = net.connect({ port: relay.port('mx'), host: '127.0.0.1' });
  let plain = '';
  const onPlain = (chunk: Buffer) => (plain += chunk.toString('latin1'));
  socket.on('data', onPlain);
  await new Promise((resolve) => socket.once('connect', resolve));
  const replied = async (predicate: () => boolean) => {
    await watchFor(predicate, 2000);
    assert.ok(predicate(), `timed out; got ${JSON.stringify(plain)}`);
  };
  await replied(() => plain.includes('220 '));
  socket.write('EHLO client.test\r\n');
  await replied(() => plain.includes('250 '));
  plain = '';
  socket.write('STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n');
  await replied(() => plain.includes('220 '));
  socket.off('data', onPlain);
  const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ socket, rejectUnauthorized: false }, () => resolve(s));
    s.once('error', reject);
  });
  let encrypted = '';
  secure.on('data', (chunk: Buffer) => (encrypted += chunk.toString('latin1')));
  secure.write('EHLO client.test\r\n');
  // The EHLO reply is complete at its last line ("250 ..."); a reply to the injected MAIL would come before it.
  await waitFor(() => /(^|\r\n)250 [^\r\n]*\r\n/.test(encrypted), 2000, () => `the EHLO reply; got ${JSON.stringify(encrypted)}`);
  assert.match(encrypted, /^250[- ]/, 'the first reply after the handshake is the one for EHLO');
  encrypted = '';
  secure.write('RCPT TO:<bob@example.test>\r\n');
  await waitFor(() => encrypted.includes('\r\n'), 2000, () => `the RCPT reply; got ${JSON.stringify(encrypted)}`);
  assert.match(encrypted, /^503 /, `no MAIL transaction exists, so RCPT is out of sequence; got ${encrypted}`);
  assert.ok(!relay.events.some((e) => e.sender === 'injected@evil.test'));
  secure.destroy();
});

test('an idle client is dropped at the idle timeout; a busy one at the connection time limit', async (t) => {
  const relay = await startDoor('[smtp]\nidle_timeout = "300ms"\ntransaction_timeout = "1s"\n');
  t.after(() => relay.stop());
  const idle = await SmtpTalk.connect({ port: relay.port('mx') });
  await idle.read();
  const timedOut = await idle.read();
  assert.equal(timedOut?.code, 421);
  assert.equal(await idle.read(), null);

  const busy = await SmtpTalk.connect({ port: relay.port('mx') });
  await busy.read();
  let last: number | undefined;
  for (let i = 0; i < 40; i++) {
    busy.write('NOOP\r\n');
    const reply = await busy.read();
    if (!reply) break;
    last = reply.code;
    if (reply.code === 421) {
      assert.match(reply.lines[0] ?? '', /^421 4\.4\.2 /);
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(last, 421);
});

test('errors smtp-server answers itself (unknown commands) count towards max_errors too', async (t) => {
  const relay = await startDoor('[smtp]\nmax_errors = 3\n');
  t.after(() => relay.stop());
  const client = await SmtpTalk.connect({ port: relay.port('mx') });
  await client.read();
  await client.command('EHLO client.test');
  const codes: number[] = [];
  for (let i = 0; i < 3; i++) codes.push((await client.command(`XYZZY ${i}`)).code);
  assert.deepEqual(codes, [500, 500, 500]);
  const closing = await client.read();
  assert.equal(closing?.code, 421);
  assert.equal(await client.read(), null);
  assert.ok(relay.events.some((e) => e.decision.reason === 'proto.too_many_errors'));
});

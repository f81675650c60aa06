// A client that shuts down its write side after the final dot (nc -N, socat,
// scripts) still reads the 250 (and the 221 when it sent QUIT) before the
// connection closes: a message is acknowledged on the wire whenever it was
// committed. Over plain TCP, STARTTLS and implicit TLS (where end() sends
// close_notify before the FIN). A client that half-closes in the middle of
// DATA gets no message queued. The whole relay runs (spool on disk, fsync,
// delivery to a sink): the client's FIN is read while the spool still writes,
// which an in-memory intake would hide.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { HARNESS_LISTENERS, eventually, smarthostTo, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';

/** implicit-tls12: implicit TLS held to TLS 1.2, where a close_notify is not TLS 1.3's half-close. */
type Mode = 'plain' | 'starttls' | 'implicit' | 'implicit-tls12';

interface Outcome {
  /** Everything the server sent on the (last) socket, until it closed. */
  readonly text: string;
  readonly closedByServer: boolean;
}

const MESSAGE = 'Subject: half-close\r\n\r\nbody\r\n';

/**
 * One session: greeting, EHLO (and STARTTLS) each waited for, then the
 * transaction; after the 354, `tail` is written and the client ends its write
 * side at once. Resolves with what the server sent afterwards, until it closed.
 */
async function halfClosingSession(port: number, mode: Mode, tail: string): Promise<Outcome> {
  let socket: net.Socket | tls.TLSSocket = await new Promise((resolve, reject) => {
    const s: net.Socket | tls.TLSSocket =
      mode === 'implicit' || mode === 'implicit-tls12'
        ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(mode === 'implicit-tls12' ? { maxVersion: 'TLSv1.2' as const } : {}) }, () => resolve(s))
        : net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
  let text = '';
  let waiter: (() => void) | undefined;
  const attach = (s: net.Socket | tls.TLSSocket): void => {
    s.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      waiter?.();
    });
    s.on('error', () => undefined);
  };
  const until = async (pattern: RegExp): Promise<void> => {
    const deadline = Date.now() + 5_000;
    while (!pattern.test(text)) {
      assert.ok(Date.now() < deadline, `no ${pattern} from the server; got ${JSON.stringify(text)}`);
      await new Promise<void>((resolve) => {
        waiter = resolve;
        setTimeout(resolve, 50).unref();
      });
    }
  };
  attach(socket);
  await until(/^220 .*\r\n/m);
  socket.write('EHLO client.test\r\n');
  await until(/^250 .*\r\n/m);
  if (mode === 'starttls') {
    text = '';
    socket.write('STARTTLS\r\n');
    await until(/^220 .*\r\n/m);
    const plain = socket;
    plain.removeAllListeners('data');
    socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: plain, rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    attach(socket);
    socket.write('EHLO client.test\r\n');
    await until(/^250 .*\r\n/m);
  }
  text = '';
  socket.write('MAIL FROM:<alice@sender.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n');
  await until(/^354 .*\r\n/m);
  text = '';
  const closed = new Promise<boolean>((resolve) => {
    const bound = setTimeout(() => resolve(false), 5_000);
    socket.once('close', () => {
      clearTimeout(bound);
      resolve(true);
    });
  });
  socket.end(tail);
  const closedByServer = await closed;
  socket.destroy();
  return { text, closedByServer };
}

/** An mx listener on implicit TLS (the harness's submissions listener wants AUTH). */
const MX_TLS = '[[listeners]]\nname = "mx-tls"\naddress = "127.0.0.1:0"\nrole = "mx"\ntls = "implicit"\n';

async function relayWithSink(t: { after: (fn: () => Promise<void>) => void }): Promise<{ harness: RelayHarness; sink: SmtpSink }> {
  const sink = await startSmtpSink();
  const harness = await startHarness({
    config: `${HARNESS_LISTENERS}${MX_TLS}${smarthostTo(sink.port)}`,
    policies: { 'local-domains': 'example.test\n' },
  });
  t.after(async () => {
    await harness.stop();
    await sink.close();
  });
  return { harness, sink };
}

test('implicit TLS 1.2: the client ends its side (close_notify, FIN) right after the final dot and still reads the 250', async (t) => {
  const { harness, sink } = await relayWithSink(t);
  const { text, closedByServer } = await halfClosingSession(harness.port('mx-tls'), 'implicit-tls12', `${MESSAGE}.\r\n`);
  assert.match(text, /^250 2\.0\.0 Ok: queued as \S+\r\n$/, `got ${JSON.stringify(text)}`);
  assert.ok(closedByServer);
  await sink.waitFor(1);
  assert.equal(sink.messages.length, 1);
});

for (const mode of ['plain', 'starttls', 'implicit'] as const) {
  const listener = mode === 'implicit' ? 'mx-tls' : 'mx';

  test(`${mode}: the client ends its side right after the final dot and still reads the 250; one message is delivered`, async (t) => {
    const { harness, sink } = await relayWithSink(t);
    const { text, closedByServer } = await halfClosingSession(harness.port(listener), mode, `${MESSAGE}.\r\n`);
    assert.match(text, /^250 2\.0\.0 Ok: queued as \S+\r\n$/, `the reply after the dot; got ${JSON.stringify(text)}`);
    assert.ok(closedByServer, 'then the server closed the connection');
    await sink.waitFor(1);
    await eventually(() => harness.relay.spool.stats().size === 0, 5000, 'the spool is empty once delivered');
    assert.equal(sink.messages.length, 1);
    assert.ok(sink.messages[0]?.raw.toString('latin1').endsWith(MESSAGE));
  });

  test(`${mode}: the client sends the dot and QUIT, ends its side, and reads the 250 and the 221`, async (t) => {
    const { harness, sink } = await relayWithSink(t);
    const { text, closedByServer } = await halfClosingSession(harness.port(listener), mode, `${MESSAGE}.\r\nQUIT\r\n`);
    assert.match(text, /^250 2\.0\.0 Ok: queued as \S+\r\n221 [^\r\n]*\r\n$/, `got ${JSON.stringify(text)}`);
    assert.ok(closedByServer);
    await sink.waitFor(1);
    await eventually(() => harness.relay.spool.stats().size === 0, 5000, 'the spool is empty once delivered');
    assert.equal(sink.messages.length, 1);
  });

  test(`${mode}: a client that ends its side in the middle of DATA gets no message queued`, async (t) => {
    const { harness, sink } = await relayWithSink(t);
    const { text, closedByServer } = await halfClosingSession(harness.port(listener), mode, 'Subject: cut\r\n\r\nno final dot\r\n');
    assert.doesNotMatch(text, /^250 /m, `no 250 for an unfinished message; got ${JSON.stringify(text)}`);
    assert.ok(closedByServer, 'the server closes the connection');
    // The session is over once its close is logged; by then the message stream was destroyed.
    await eventually(() => harness.logs.some((l) => l.msg === 'connection closed'), 5000, 'the session closed');
    assert.equal(harness.relay.spool.stats().size, 0);
    assert.equal(sink.messages.length, 0);
    assert.ok(!harness.logs.some((l) => typeof l.queueId === 'string'), 'nothing was queued');
  });
}

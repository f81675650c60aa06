// QUIT gets its 221 and the server closes the connection at once (as Postfix's
// smtpd does), without waiting for the client's FIN; a command pipelined
// after QUIT is not answered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startDoor } from '../helpers/front-door-harness.ts';

/** Sends `lines` once the greeting is in, and resolves with all the server sent once it closed (bounded). */
function session(port: number, lines: string): Promise<{ text: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    let text = '';
    let sent = false;
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setEncoding('latin1');
    const bound = setTimeout(() => {
      socket.destroy();
      resolve({ text, closedByServer: false });
    }, 5_000);
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (!sent && text.includes('\r\n')) {
        sent = true;
        // The client keeps its side open: only the server can end this session.
        socket.write(lines);
      }
    });
    socket.on('end', () => {
      clearTimeout(bound);
      socket.destroy();
      resolve({ text, closedByServer: true });
    });
    socket.on('error', reject);
  });
}

test('QUIT: 221, then the server closes while the client still holds its side open', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const { text, closedByServer } = await session(relay.port('mx'), 'EHLO client.example\r\nQUIT\r\n');
  assert.ok(closedByServer, `the server did not close (got ${JSON.stringify(text)})`);
  assert.match(text, /\r\n221 [^\r\n]*\r\n$/);
});

test('after the 221 the server has closed for good, not half-closed: a late byte from the client is reset', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const outcome = await new Promise<string>((resolve) => {
    // allowHalfOpen: the client keeps writing after the server's FIN, as a slow client might.
    const socket = net.connect({ host: '127.0.0.1', port: relay.port('mx'), allowHalfOpen: true });
    let text = '';
    const bound = setTimeout(() => {
      socket.destroy();
      resolve('still open after 5 s');
    }, 5_000);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text === chunk) socket.write('QUIT\r\n');
    });
    // A half-closed server would read (and drop) this; a closed one answers with a reset.
    socket.on('end', () => {
      socket.write('NOOP\r\n');
      // The reset comes back for the first write; the next one fails on it.
      setTimeout(() => socket.write('NOOP\r\n'), 100).unref();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(bound);
      resolve(error.code ?? 'error');
    });
  });
  assert.ok(['ECONNRESET', 'EPIPE'].includes(outcome), outcome);
});

test('a command pipelined after QUIT gets no reply; the 221 still arrives', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const { text, closedByServer } = await session(relay.port('mx'), 'QUIT\r\nNOOP\r\n');
  assert.ok(closedByServer);
  assert.match(text, /^220 [^\r\n]*\r\n221 [^\r\n]*\r\n$/);
});

test('a client that closes right after QUIT leaves the relay serving the next one', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  for (let i = 0; i < 20; i++) {
    const socket = net.connect({ host: '127.0.0.1', port: relay.port('mx') });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.end('QUIT\r\n');
  }
  const { text } = await session(relay.port('mx'), 'QUIT\r\n');
  assert.match(text, /221 /);
});

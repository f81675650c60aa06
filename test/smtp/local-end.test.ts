// The session's local address and port (journal, Received, policy): on a
// listener bound to one address they are the bound ones, given to
// smtp-server without asking the kernel; on a wildcard listener the kernel
// is asked for each socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { SMTPServerSession } from 'smtp-server';
import { RelaySmtpServer, specificLocalEnd } from '../../src/smtp/relay-smtp-server.ts';

async function localEndSeen(bindHost: string, connectHost: string): Promise<{ session: { address: string; port: number }; socket: { address: string; port: number }; bound: number }> {
  let resolveSession: (session: SMTPServerSession) => void = () => undefined;
  const seen = new Promise<SMTPServerSession>((resolve) => (resolveSession = resolve));
  const server = new RelaySmtpServer({
    logger: false,
    disableReverseLookup: true,
    hideSTARTTLS: true,
    onConnect(session, callback) {
      resolveSession(session);
      callback();
    },
  });
  await new Promise<void>((resolve) => server.listen(0, bindHost, () => resolve()));
  const bound = (server.server.address() as net.AddressInfo).port;
  const client = net.connect({ host: connectHost, port: bound });
  try {
    await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
    const session = await seen;
    // The client's remote end is the server socket's local end, as the kernel has it.
    return { session: { address: session.localAddress, port: session.localPort }, socket: { address: client.remoteAddress ?? '', port: client.remotePort ?? 0 }, bound };
  } finally {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

test('a listener bound to one address: the session has that address and port', async () => {
  const seen = await localEndSeen('127.0.0.1', '127.0.0.1');
  assert.deepEqual(seen.session, seen.socket);
  assert.deepEqual(seen.session, { address: '127.0.0.1', port: seen.bound });
});

test('a wildcard listener (0.0.0.0, ::) or a Unix socket: the kernel is asked per socket', () => {
  // Tests bind to loopback only, so the wildcard case is checked on the function that decides.
  assert.equal(specificLocalEnd({ address: '0.0.0.0', family: 'IPv4', port: 25 }), undefined);
  assert.equal(specificLocalEnd({ address: '::', family: 'IPv6', port: 25 }), undefined);
  assert.equal(specificLocalEnd('/run/relay.sock'), undefined);
  assert.equal(specificLocalEnd(null), undefined);
  assert.deepEqual(specificLocalEnd({ address: '::1', family: 'IPv6', port: 2525 }), { localAddress: '::1', localPort: 2525 });
});

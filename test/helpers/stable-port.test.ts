// The sink's port while it is down: below the kernel's ephemeral range, so no
// bind(0) of another test and no connect()'s source port can take it, and a
// connection to it is refused until the sink is up again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { listenOnStablePort } from './stable-port.ts';
import { startSmtpSink } from './smtp-sink.ts';

const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

function connectResult(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

const listener = (server: net.Server) => (port: number) =>
  new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.removeListener('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });

test('a sink listens below the ephemeral range, is refused while down, and comes back on the same port', async (t) => {
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  assert.ok(sink.port < ephemeralLow, `port ${sink.port} is below ${ephemeralLow}`);
  await sink.down();
  assert.equal(await connectResult(sink.port), 'ECONNREFUSED');
  await sink.up();
  assert.equal(await connectResult(sink.port), 'connected');
});

test('a port that is taken is skipped for another one', async (t) => {
  const first = net.createServer();
  const second = net.createServer();
  t.after(() => {
    first.close();
    second.close();
  });
  const taken = await listenOnStablePort(listener(first));
  // The first pick lands on the taken port, the next one elsewhere.
  const low = Math.max(10_000, ephemeralLow - 12_000);
  const picks = [(taken - low + 0.5) / (ephemeralLow - low), 0.5];
  const port = await listenOnStablePort(listener(second), () => picks.shift() ?? Math.random());
  assert.notEqual(port, taken);
  assert.ok(port < ephemeralLow);
});

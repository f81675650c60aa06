// A policy server for bench/policy-service.ts, run in its own process (pinned
// to one core by the bench): `relayguard` is the whole relay (startRelay)
// with [policy_service] on, every policy on (DNSBL against the bench's DNS
// server, limits, checks), logging at info to nowhere; `dunno` is the
// baseline, the least a policy server can do: split requests at the empty
// line and answer DUNNO. Prints {"port": N} once listening; SIGTERM stops it,
// and so does the end of its stdin (the bench gone).
import net from 'node:net';
import { Writable } from 'node:stream';
import { makeTestConfig } from '../../test/helpers/test-config.ts';
import { startRelay } from '../../src/main.ts';
import { createLogger } from '../../src/log/logger.ts';

const [mode, dnsAddress] = process.argv.slice(2);

async function relayguard(): Promise<{ port: number; stop: () => Promise<void> }> {
  const dir = await makeTestConfig(
    `[[listeners]]
address = "127.0.0.1:0"
role = "mx"
tls = "none"

[http]
enabled = false

[dns]
servers = ["${dnsAddress}"]

[policy_service]
enabled = true
address = "127.0.0.1:0"
`,
    {
      'local-domains': 'bench.test\n',
      'relay-networks': '127.0.0.1\n',
      'dnsbl.toml': 'threshold = 1\n[[zones]]\nzone = "zen.dnsbl.bench"\n\n[[zones]]\nzone = "bl.dnsbl.bench"\n',
      'limits.toml': '[ip]\nmessages = "10000000/1h"\nrecipients = "10000000/1h"\nconnections = "10000000/1h"\n',
      'checks.toml': '[sender_domain]\nreject_unknown = false\n',
    },
  );
  const nowhere = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  const relay = await startRelay({ configFile: dir.configFile, logger: createLogger('info', nowhere) });
  const address = relay.policy;
  if (address?.kind !== 'inet') throw new Error('no TCP policy listener');
  return { port: address.port, stop: async () => { await relay.stop(); await dir.cleanup(); } };
}

async function dunno(): Promise<{ port: number; stop: () => Promise<void> }> {
  const server = net.createServer((socket) => {
    let buffer = '';
    socket.setEncoding('latin1');
    socket.on('error', () => undefined);
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
        buffer = buffer.slice(end + 2);
        socket.write('action=DUNNO\n\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { port: (server.address() as net.AddressInfo).port, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}

const target = mode === 'relayguard' ? await relayguard() : await dunno();
process.stdout.write(`${JSON.stringify({ port: target.port })}\n`);
process.once('SIGTERM', () => {
  void target.stop().finally(() => process.exit(0));
});
// The bench holds our stdin open: when it goes (even killed by a timeout), so do we. A target
// left behind kept the bench's stderr pipe open, so `bench | tail` never saw the end.
process.stdin.resume();
process.stdin.once('end', () => process.exit(0));
process.stdin.once('error', () => process.exit(0));

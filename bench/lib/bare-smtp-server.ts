// The ceiling of the front-door library: smtp-server (the same package and
// version as the relay) accepting every message and throwing it away: no
// policy, no spool, no delivery, no logging. It greets at once, as the relay
// does (smtp-server otherwise waits 100 ms per connection). Run as a child
// process by bench/throughput.ts; prints its port on stdout, stops on SIGTERM.
import type net from 'node:net';
import { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

class ImmediateConnection extends SMTPConnection {
  override init(): void {
    // smtp-server's init() without its fixed 100 ms pause (src/smtp/relay-smtp-server.ts drops it too).
    this._setListeners(() => this.connectionReady());
  }
}

class BareServer extends SMTPServer {
  override connect(socket: net.Socket, socketOptions?: ConstructorParameters<typeof SMTPConnection>[2]): void {
    const connection = new ImmediateConnection(this, socket, socketOptions ?? undefined);
    this.connections.add(connection);
    connection.on('error', (err: Error) => this._onError(err));
    connection.on('connect', (data: Parameters<SMTPServer['_onClientConnect']>[0]) => this._onClientConnect(data));
    connection.init();
  }
}

const server = new BareServer({
  disableReverseLookup: true,
  authOptional: true,
  hideSTARTTLS: true,
  logger: false,
  onData(stream, _session, callback) {
    stream.on('data', () => undefined);
    stream.on('end', () => callback(null));
  },
});
server.on('error', (error) => {
  console.error(error);
  process.exit(1);
});
server.listen(0, '127.0.0.1', () => {
  const address = server.server.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));

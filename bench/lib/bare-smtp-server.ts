// The ceiling of the front-door library: smtp-server (the same package and
// version as the relay) accepting every message and throwing it away: no
// policy, no spool, no delivery, no logging. It greets at once, as the relay
// does (smtp-server otherwise waits 100 ms per connection), through the same
// class of src/smtp/relay-smtp-server.ts, the smtp-server seam. Run as a child
// process by bench/throughput.ts; prints its port on stdout, stops on SIGTERM.
import { GreetAtOnceSmtpServer } from '../../src/smtp/relay-smtp-server.ts';

const server = new GreetAtOnceSmtpServer({
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

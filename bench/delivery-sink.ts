// A minimal discarding SMTP sink for bench/delivery.ts when Postfix's smtp-sink
// is not installed: smtp-server on 127.0.0.1:<argv[2]>, no TLS, no AUTH.
import { SMTPServer } from 'smtp-server';

const server = new SMTPServer({
  logger: false,
  disabledCommands: ['STARTTLS', 'AUTH'],
  authOptional: true,
  onData(stream, _session, callback) {
    stream.on('data', () => undefined);
    stream.on('end', () => callback(null));
  },
});
server.listen(Number(process.argv[2]), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));

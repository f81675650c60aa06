// The floor of a durable relay built from the relay's own libraries: the
// least a relay must do per message, with nothing else. smtp-server (through
// the same seam class as the relay, greeting at once) takes the message, it is
// appended to one file and fdatasync'd before the 250 (group commit: every
// message that arrived during a flush goes in the next writev + fdatasync),
// then nodemailer hands it to the upstream on pooled, pipelined connections,
// all on one thread. No policy, no DNSBL, no journal, no log, no metrics, no
// queue, no retry, no worker. Not a relay anyone should run: a ceiling that
// says how far the real one is from what its libraries and its durability
// promise cost on this machine. Run as a child by bench/throughput.ts: argv
// [sink port, spool directory]; prints its port on stdout, then on each
// SIGUSR2 the number of messages the upstream has accepted; stops on SIGTERM.
import { open } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { GreetAtOnceSmtpServer } from '../../src/smtp/relay-smtp-server.ts';

const [sinkPort, spoolDir] = [Number(process.argv[2]), process.argv[3] ?? ''];
if (!Number.isInteger(sinkPort) || !spoolDir) throw new Error('usage: minimal-relay.ts SINK_PORT SPOOL_DIR');

const spool = await open(path.join(spoolDir, 'spool'), 'a');
let pending: Array<{ readonly bytes: Buffer; readonly durable: () => void }> = [];
let flushing = false;
let delivered = 0;

/** One writev + fdatasync for everything that arrived since the last one. */
async function flush(): Promise<void> {
  if (flushing || pending.length === 0) return;
  flushing = true;
  const batch = pending;
  pending = [];
  await spool.writev(batch.map((p) => p.bytes));
  await spool.datasync();
  flushing = false;
  for (const p of batch) p.durable();
  void flush();
}

const upstream = nodemailer.createTransport({ host: '127.0.0.1', port: sinkPort, secure: false, ignoreTLS: true, pool: true, maxConnections: 20, maxMessages: Infinity });

const server = new GreetAtOnceSmtpServer({
  disableReverseLookup: true,
  authOptional: true,
  hideSTARTTLS: true,
  logger: false,
  onData(stream, session, callback) {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
      const to = session.envelope.rcptTo.map((r) => r.address);
      pending.push({
        bytes: body,
        durable: () => {
          callback(null);
          upstream.sendMail({ envelope: { from, to }, raw: body }, (error) => {
            if (error) console.error(`minimal relay: delivery failed: ${error.message}`);
            else delivered++;
          });
        },
      });
      void flush();
    });
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
process.on('SIGUSR2', () => process.stdout.write(`${delivered}\n`));
process.on('SIGTERM', () => {
  upstream.close();
  server.close(() => process.exit(0));
});

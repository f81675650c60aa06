// The floor of ANY durable relay written in Node on this machine, whatever
// its SMTP libraries: the least per message that node:net, libuv and one
// O_DSYNC group-committed file cost. No SMTP library at all: commands are
// told apart by their first four bytes, addresses are taken from between
// the brackets, replies to one read go out in one write, the body is kept
// dot-stuffed as it came and passed on as it is, and delivery is twenty
// persistent raw connections that pipeline MAIL, RCPT and DATA (RFC 2920).
// It checks nothing a real relay must check (syntax, line lengths, limits,
// bare LF, SIZE, UTF-8 ...), so it is not a relay and must never be one;
// it answers one question for issue 20: could a relay built without
// smtp-server and nodemailer reach the target on this machine at all?
//
// Run as a child by bench/throughput.ts, like minimal-relay.ts: argv
// [sink port, spool directory] for the durable relay, or [--discard] for the
// front door alone (accept and throw away, the counterpart of
// bare-smtp-server.ts); prints its port on stdout, then on each SIGUSR2 the
// number of messages the upstream has accepted; stops on SIGTERM.
import { closeSync, constants, openSync, writev } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const discard = process.argv[2] === '--discard';
const [sinkPort, spoolDir] = [Number(process.argv[2]), process.argv[3] ?? ''];
if (!discard && (!Number.isInteger(sinkPort) || !spoolDir)) throw new Error('usage: node-floor-relay.ts SINK_PORT SPOOL_DIR | --discard');

interface Job {
  readonly from: string;
  readonly to: readonly string[];
  /** The body as received: dot-stuffed, ending in CRLF, without the final ".\r\n". */
  readonly body: Buffer;
}

// ---- the durable spool: one O_DSYNC file, every append that arrives during a write joins the next one

const fd = discard ? -1 : openSync(path.join(spoolDir, 'spool'), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_DSYNC, 0o600);
let pending: Array<{ readonly job: Job; readonly durable: () => void }> = [];
let writing = false;

function flush(): void {
  if (writing || pending.length === 0) return;
  writing = true;
  const batch = pending;
  pending = [];
  writev(
    fd,
    batch.map((p) => p.job.body),
    (error) => {
      if (error) throw error; // a bench: no recovery
      writing = false;
      for (const p of batch) p.durable();
      flush();
    },
  );
}

// ---- the front door

const END_OF_DATA = Buffer.from('\r\n.\r\n');
const CRLF = Buffer.from('\r\n');
const EHLO_REPLY = '250-floor.bench\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n';

class Session {
  #rest: Buffer | undefined;
  #inData = false;
  #body: Buffer[] = [];
  #bodyLength = 0;
  /** The last (up to) four bytes of "\r\n" + the body so far: the terminator may straddle two reads. */
  #tail = CRLF;
  #from = '';
  #to: string[] = [];
  #closed = false;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => (this.#closed = true));
    socket.write('220 floor.bench ESMTP\r\n');
  }

  #onData(chunk: Buffer): void {
    const data = this.#rest ? Buffer.concat([this.#rest, chunk]) : chunk;
    this.#rest = undefined;
    let out = '';
    let pos = 0;
    while (pos < data.length) {
      if (this.#inData) {
        pos = this.#takeBody(data, pos);
        continue;
      }
      const eol = data.indexOf('\r\n', pos);
      if (eol === -1) {
        this.#rest = data.subarray(pos);
        break;
      }
      const line = data.toString('latin1', pos, eol);
      pos = eol + 2;
      out += this.#command(line);
    }
    if (out) this.socket.write(out);
  }

  /** Takes body bytes from `data` at `pos`; returns where the commands go on (data.length if the body goes on). */
  #takeBody(data: Buffer, pos: number): number {
    const segment = data.subarray(pos);
    const tail = this.#tail;
    // `at`: where "\r\n.\r\n" starts, counted from the start of tail + segment
    let at = Buffer.concat([tail, segment.subarray(0, 4)]).indexOf(END_OF_DATA);
    if (at === -1 || at >= tail.length) {
      const inside = segment.indexOf(END_OF_DATA);
      at = inside === -1 ? -1 : inside + tail.length;
    }
    if (at === -1) {
      this.#body.push(segment);
      this.#bodyLength += segment.length;
      const joined = Buffer.concat([tail, segment.subarray(Math.max(0, segment.length - 4))]);
      this.#tail = Buffer.from(joined.subarray(Math.max(0, joined.length - 4)));
      return data.length;
    }
    // the body keeps the CRLF before the dot; it may end before what was already taken
    const bodyEnd = 2 + this.#bodyLength - tail.length + at;
    if (bodyEnd > this.#bodyLength) this.#body.push(segment.subarray(0, bodyEnd - this.#bodyLength));
    this.#accept(Buffer.concat(this.#body, bodyEnd));
    this.#inData = false;
    return pos + at + END_OF_DATA.length - tail.length;
  }

  #command(line: string): string {
    const verb = line.slice(0, 4).toUpperCase();
    switch (verb) {
      case 'EHLO':
        return EHLO_REPLY;
      case 'HELO':
        return '250 floor.bench\r\n';
      case 'MAIL':
        this.#from = between(line);
        this.#to = [];
        return '250 2.1.0 Ok\r\n';
      case 'RCPT':
        this.#to.push(between(line));
        return '250 2.1.5 Ok\r\n';
      case 'DATA':
        this.#inData = true;
        this.#body = [];
        this.#bodyLength = 0;
        this.#tail = CRLF;
        return '354 End data with <CR><LF>.<CR><LF>\r\n';
      case 'RSET':
        this.#from = '';
        this.#to = [];
        return '250 2.0.0 Ok\r\n';
      case 'NOOP':
        return '250 2.0.0 Ok\r\n';
      case 'QUIT':
        this.socket.end('221 2.0.0 Bye\r\n');
        return '';
      default:
        return '502 5.5.2 Error: command not recognized\r\n';
    }
  }

  #accept(body: Buffer): void {
    const job: Job = { from: this.#from, to: this.#to, body };
    this.#to = [];
    this.#body = [];
    const answer = () => {
      if (!this.#closed) this.socket.write('250 2.0.0 Ok: queued\r\n');
    };
    if (discard) return answer();
    pending.push({
      job,
      durable: () => {
        answer();
        upstream.push(job);
      },
    });
    flush();
  }
}

function between(line: string): string {
  const open = line.indexOf('<');
  const close = line.indexOf('>', open + 1);
  return open === -1 || close === -1 ? '' : line.slice(open + 1, close);
}

// ---- delivery: persistent connections, the envelope pipelined

let delivered = 0;

class UpstreamConnection {
  #socket: net.Socket;
  #buffered = '';
  /** Final replies still to come for what was written, and what to do when they are in. */
  #awaiting = 0;
  #codes: number[] = [];
  #then: ((codes: number[]) => void) | undefined;
  #job: Job | undefined;
  idle = false;

  constructor(
    port: number,
    private readonly pool: UpstreamPool,
  ) {
    this.#socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    this.#socket.setEncoding('latin1');
    this.#socket.on('data', (text: string) => this.#onData(text));
    this.#socket.on('error', (error) => {
      console.error(`node floor relay: upstream: ${error.message}`);
      process.exit(1);
    });
    this.#expect(1, () => {
      this.#socket.write('EHLO floor.bench\r\n');
      this.#expect(1, () => this.#ready());
    });
  }

  deliver(job: Job): void {
    this.idle = false;
    this.#job = job;
    let envelope = `MAIL FROM:<${job.from}>\r\n`;
    for (const to of job.to) envelope += `RCPT TO:<${to}>\r\n`;
    this.#socket.write(`${envelope}DATA\r\n`);
    this.#expect(job.to.length + 2, (codes) => {
      if (codes.at(-1) !== 354) return this.#failed(codes);
      this.#socket.write(job.body);
      this.#socket.write('.\r\n');
      this.#expect(1, (final) => {
        if (final[0] !== 250) return this.#failed(final);
        delivered++;
        this.#ready();
      });
    });
  }

  #failed(codes: number[]): void {
    console.error(`node floor relay: upstream refused (${codes.join(' ')})`);
    if (this.#job) this.pool.push(this.#job);
    this.#socket.write('RSET\r\n');
    this.#expect(1, () => this.#ready());
  }

  #ready(): void {
    this.#job = undefined;
    this.idle = true;
    this.pool.idle(this);
  }

  #expect(count: number, then: (codes: number[]) => void): void {
    this.#awaiting = count;
    this.#codes = [];
    this.#then = then;
  }

  #onData(text: string): void {
    this.#buffered += text;
    let eol: number;
    while ((eol = this.#buffered.indexOf('\r\n')) !== -1) {
      const line = this.#buffered.slice(0, eol);
      this.#buffered = this.#buffered.slice(eol + 2);
      if (line[3] === '-') continue; // not the last line of a reply
      this.#codes.push(Number(line.slice(0, 3)));
      if (--this.#awaiting === 0 && this.#then) {
        const then = this.#then;
        this.#then = undefined;
        then(this.#codes);
      }
    }
  }

  close(): void {
    this.#socket.end('QUIT\r\n');
  }
}

class UpstreamPool {
  readonly #queue: Job[] = [];
  readonly #idle: UpstreamConnection[] = [];
  readonly #all: UpstreamConnection[] = [];

  constructor(port: number, size: number) {
    for (let i = 0; i < size; i++) this.#all.push(new UpstreamConnection(port, this));
  }

  push(job: Job): void {
    const connection = this.#idle.pop();
    if (connection) connection.deliver(job);
    else this.#queue.push(job);
  }

  idle(connection: UpstreamConnection): void {
    const job = this.#queue.shift();
    if (job) connection.deliver(job);
    else this.#idle.push(connection);
  }

  close(): void {
    for (const connection of this.#all) connection.close();
  }
}

const upstream = discard ? new UpstreamPool(0, 0) : new UpstreamPool(sinkPort, 20);

const server = net.createServer({ noDelay: true }, (socket) => new Session(socket));
server.on('error', (error) => {
  console.error(error);
  process.exit(1);
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGUSR2', () => process.stdout.write(`${delivered}\n`));
process.on('SIGTERM', () => {
  upstream.close();
  if (!discard) closeSync(fd);
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
});

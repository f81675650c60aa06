// The one logger factory. pino JSON to stdout; the level comes from config.
// Passwords never reach a log line: auth fields are redacted as a second
// line of defence (the first is that nothing logs them).
import { writeSync } from 'node:fs';
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * stdout is written in batches: at least LOG_BATCH_BYTES, or whatever is
 * buffered every LOG_FLUSH_MS. Unbatched, a busy relay made one write(2) per
 * line through libuv's thread pool (four or five lines per message), ~5% of its CPU in
 * bench/; batched, a line reaches stdout at most LOG_FLUSH_MS late, and what
 * is buffered is written synchronously when the process exits.
 */
export const LOG_BATCH_BYTES = 32 * 1024;
export const LOG_FLUSH_MS = 200;

type StdoutDestination = DestinationStream & { flush(cb?: (err?: Error | null) => void): void; flushSync(): void };
let stdoutDestination: StdoutDestination | undefined;

/**
 * The process's one stdout writer: lines are gathered in an array and handed
 * to sonic-boom (which writes them, retrying on EAGAIN) a batch at a time.
 * Not sonic-boom's own minLength batching: it measures the byte length of its
 * whole pending buffer at every line, so each line cost a scan of up to 32 KiB
 * (~3.6 µs a line, ~3% of the front door's thread in bench/).
 *
 * At exit (and on flushSync) the batch is NOT handed to sonic-boom: its write()
 * would start an asynchronous fs.write in libuv's thread pool, which Node 22
 * and 24 abandon at exit (Node 20 mostly finished it while shutting down), and
 * its flushSync() skips a write it has already started. So sonic-boom's own
 * queue is flushed first, then the batch is written here with writeSync.
 */
function stdout(): StdoutDestination {
  if (stdoutDestination) return stdoutDestination;
  const boom = pino.destination({ dest: 1, sync: false, minLength: 0 });
  let lines: string[] = [];
  let bytes = 0;
  const take = (): string => {
    const text = lines.join('');
    lines = [];
    bytes = 0;
    return text;
  };
  const handOver = () => {
    if (lines.length > 0) boom.write(take());
  };
  const flushSync = () => {
    boom.flushSync();
    if (lines.length > 0) writeAllSync(1, take());
  };
  setInterval(handOver, LOG_FLUSH_MS).unref();
  process.on('exit', () => {
    try {
      flushSync();
    } catch {
      // stdout is gone (EPIPE, closed): nothing left to write the lines to.
    }
  });
  stdoutDestination = {
    write(line: string) {
      lines.push(line);
      bytes += line.length;
      if (bytes >= LOG_BATCH_BYTES) handOver();
    },
    flush(cb) {
      handOver();
      boom.flush(cb);
    },
    flushSync,
  };
  return stdoutDestination;
}

const EAGAIN_PAUSE = new Int32Array(new SharedArrayBuffer(4));

/**
 * All of `text` to `fd`, synchronously. A non-blocking pipe whose reader is
 * slow answers EAGAIN: wait 10 ms and try again, for at most ~10 s.
 */
function writeAllSync(fd: number, text: string): void {
  let buffer = Buffer.from(text);
  for (let waits = 0; buffer.length > 0 && waits < 1000; ) {
    try {
      buffer = buffer.subarray(writeSync(fd, buffer));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN' && code !== 'EBUSY') throw error;
      waits++;
      Atomics.wait(EAGAIN_PAUSE, 0, 0, 10);
    }
  }
}

/**
 * Where a secret could sit in an object someone logs: the SMTP AUTH attempt
 * (password), nodemailer's credentials (pass), the upstream config
 * (auth_password). Named paths, not wildcards: '*.password' made pino walk
 * every nested object of every line, half of what a line cost to write.
 */
export const REDACTED_PATHS = [
  'password',
  'pass',
  'auth_password',
  'auth.password',
  'auth.pass',
  'attempt.password',
  'request.password',
  'target.auth.pass',
  'upstream.auth_password',
  'detail.password',
];

/** `.mmmZ"` for each millisecond 0-999: the tail of a line's time after its second. */
const MILLIS = Array.from({ length: 1000 }, (_, ms) => `.${String(ms).padStart(3, '0')}Z"`);

/**
 * pino's isoTime makes a Date and an ISO string per line (~1.3 µs); a busy
 * relay writes several lines per millisecond, and the millisecond changes
 * between most of them. So the text up to the second is made once per second
 * and the milliseconds are appended from a table: what
 * `,"time":"${new Date(now).toISOString()}"` gives, character for character.
 */
export function isoTimeOncePerMs(clock: () => number = Date.now): () => string {
  let last = -1;
  let text = '';
  let second = -1;
  let head = '';
  return () => {
    const now = clock();
    if (now !== last) {
      last = now;
      const ms = now % 1000;
      if (ms < 0) {
        text = `,"time":"${new Date(now).toISOString()}"`; // before 1970 (a clock gone wrong): no table
      } else {
        if (now - ms !== second) {
          second = now - ms;
          head = `,"time":"${new Date(second).toISOString().slice(0, -5)}`;
        }
        text = head + (MILLIS[ms] as string);
      }
    }
    return text;
  };
}

export type LogFormat = 'json' | 'pretty';

/** config's log_format → what stdout gets: 'auto' is pretty on a terminal, JSON otherwise (piped, a file, journald). */
export function chooseLogFormat(setting: 'auto' | 'json' | 'pretty', stdoutIsTerminal: boolean): LogFormat {
  if (setting === 'auto') return stdoutIsTerminal ? 'pretty' : 'json';
  return setting;
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const OMITTED = new Set(['level', 'time', 'msg', 'service']);

/**
 * One JSON log line → `12:00:01.234 INFO  message key=value ...` for a person
 * at a terminal. A line that is not JSON passes through unchanged.
 */
export function prettyLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  if (typeof record !== 'object' || record === null) return `${line}\n`;
  const time = typeof record.time === 'string' ? record.time.slice(11, 23) : '';
  const level = LEVEL_NAMES[record.level as number] ?? String(record.level ?? '');
  const rest = Object.entries(record)
    .filter(([key]) => !OMITTED.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' && !/[\s"=]/.test(value) ? value : JSON.stringify(value)}`);
  return `${[time, level, typeof record.msg === 'string' ? record.msg : '', ...rest].filter((part) => part !== '').join(' ')}\n`;
}

/** A destination that writes each JSON line it is given as prettyLine() to `inner`. */
function prettyDestination(inner: StdoutDestination): StdoutDestination {
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line !== '') inner.write(prettyLine(line));
    },
    flush: (cb) => inner.flush(cb),
    flushSync: () => inner.flushSync(),
  };
}

/** Every logger made by createLogger, and every child of one, → the destination its lines go to. */
const destinations = new WeakMap<Logger, DestinationStream>();

/** A root logger and its descendants (weakly: per-connection children come and go). */
interface Family {
  members: Array<WeakRef<Logger>>;
  pruneAt: number;
}
/** Every logger made by createLogger, and every child of one, → its family. */
const families = new WeakMap<Logger, Family>();

function join(family: Family, logger: Logger): void {
  families.set(logger, family);
  family.members.push(new WeakRef(logger));
  if (family.members.length >= family.pruneAt) {
    family.members = family.members.filter((ref) => ref.deref() !== undefined);
    family.pruneAt = Math.max(64, family.members.length * 2);
  }
}

/**
 * Sets the level of a logger made by createLogger, of its root and of every
 * child made so far (pino children keep the level they were born with), so a
 * reload that changes log_level applies it to every line from then on.
 */
export function setLogLevel(logger: Logger, level: string): void {
  const family = families.get(logger);
  if (!family) {
    logger.level = level;
    return;
  }
  for (const ref of family.members) {
    const member = ref.deref();
    if (member) member.level = level;
  }
}

/**
 * A pino logger at `level` writing to `destination`, or to stdout (batched, see
 * stdout()); `format` 'pretty' applies to stdout only: a destination given
 * gets JSON. Lines written verbatim through destinationOf() (the delivery
 * worker's) are made pretty too.
 */
export function createLogger(level: string, destination?: DestinationStream, format: LogFormat = 'json'): Logger {
  const dest = destination ?? (format === 'pretty' ? prettyDestination(stdout()) : stdout());
  const family: Family = { members: [], pruneAt: 64 };
  const logger = pino(
    {
      level,
      base: { service: 'relayguard' },
      timestamp: isoTimeOncePerMs(),
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      // pino calls this for children of children too.
      onChild: (child) => {
        destinations.set(child, dest);
        join(family, child);
      },
    },
    dest,
  );
  destinations.set(logger, dest);
  join(family, logger);
  return logger;
}

/**
 * The destination of a logger made by createLogger (or of a child of one),
 * for lines already formatted elsewhere: the delivery worker's, written
 * verbatim so stdout keeps one writer. undefined for any other logger.
 */
export function destinationOf(logger: Logger): DestinationStream | undefined {
  return destinations.get(logger);
}

/** A logger that drops everything, for unit tests and quiet CLI commands. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

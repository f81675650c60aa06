// The one logger factory. pino JSON to stdout; the level comes from config.
// Passwords never reach a log line: auth fields are redacted as a second
// line of defence (the first is that nothing logs them).
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * stdout is written in batches: at least LOG_BATCH_BYTES, or whatever is
 * buffered every LOG_FLUSH_MS. Unbatched, a busy relay made one write(2) per
 * line through libuv's thread pool (five lines per message), ~5% of its CPU in
 * bench/; batched, a line reaches stdout at most LOG_FLUSH_MS late, and pino
 * flushes the buffer synchronously when the process exits.
 */
export const LOG_BATCH_BYTES = 32 * 1024;
export const LOG_FLUSH_MS = 200;

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

/**
 * pino's isoTime makes a Date and an ISO string per line; a busy relay writes
 * several lines per millisecond, so the string is made once per millisecond.
 */
function isoTimeOncePerMs(): () => string {
  let last = -1;
  let text = '';
  return () => {
    const now = Date.now();
    if (now !== last) {
      last = now;
      text = `,"time":"${new Date(now).toISOString()}"`;
    }
    return text;
  };
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'relayguard' },
      timestamp: isoTimeOncePerMs(),
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    destination ?? pino.destination({ dest: 1, sync: false, minLength: LOG_BATCH_BYTES, maxWrite: 2 * LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_MS }),
  );
}

/** A logger that drops everything, for unit tests and quiet CLI commands. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

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

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'relayguard' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['password', '*.password', 'auth.password', 'pass', '*.pass'], censor: '[redacted]' },
    },
    destination ?? pino.destination({ dest: 1, sync: false, minLength: LOG_BATCH_BYTES, maxWrite: 2 * LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_MS }),
  );
}

/** A logger that drops everything, for unit tests and quiet CLI commands. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

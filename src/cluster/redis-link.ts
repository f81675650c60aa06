// The one connection to the shared store, and the one way to use it:
// link.run(operation) either runs the operation against Redis within
// cluster.command_timeout or throws a ClusterError, never waits longer, and
// tells RedisHealth what happened. While the link is down nothing is sent
// (REDIS_DOWN at once), so an outage costs SMTP commands no time at all.
//
// ioredis is set up so that nothing queues behind a dead connection:
// enableOfflineQueue false (a command on a broken connection fails at once),
// commandTimeout (a hung server), maxRetriesPerRequest 0, and a reconnect
// backoff of 100 ms doubling to 2 s, forever. A probe PINGs every second
// while down, so a server that hung without dropping the connection is
// noticed when it answers again. This folder is the only one importing ioredis.
import { Redis } from 'ioredis';
import type { Logger } from '../log/logger.ts';
import { ClusterError } from './errors.ts';
import { RedisHealth } from './redis-health.ts';

export interface RedisLinkOptions {
  /** redis://[user:password@]host:port[/db] or rediss:// (TLS). */
  readonly url: string;
  /** Names the connection in Redis' CLIENT LIST. */
  readonly instance: string;
  readonly commandTimeoutMs: number;
  readonly failOpen: boolean;
  readonly logger: Logger;
  /** How often a down link is probed; default 1000 ms. */
  readonly probeIntervalMs?: number;
}

export interface RedisLink {
  readonly client: Redis;
  readonly health: RedisHealth;
  readonly commandTimeoutMs: number;
  /** Runs `operation` (which talks to `client`) bounded by the command timeout. */
  run<T>(operation: () => Promise<T>): Promise<T>;
  /** Resolves true once connected, false if not within `timeoutMs` (the outage is then logged). */
  waitReady(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** The address without credentials, for logs and the dashboard. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.hostname}:${parsed.port || '6379'}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  } catch {
    return 'redis://(unparsable address)';
  }
}

/** Redis answered (the server is alive): an error of the command, not of the link. */
function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError';
}

export function openRedisLink(options: RedisLinkOptions): RedisLink {
  const health = new RedisHealth({ address: redactRedisUrl(options.url), failOpen: options.failOpen, logger: options.logger });
  const timeoutMs = options.commandTimeoutMs;
  const client = new Redis(options.url, {
    connectionName: `relayguard-${options.instance}`,
    enableOfflineQueue: false,
    commandTimeout: timeoutMs,
    connectTimeout: Math.max(1000, timeoutMs * 5),
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt - 1, 5), 2000),
    // Several counters of one SMTP command go out in one write.
    enableAutoPipelining: true,
  });
  let closing = false;
  let lastConnectionError: unknown;
  // ioredis prints "Unhandled error event" without a listener; the health logs once per outage instead.
  client.on('error', (error: unknown) => {
    lastConnectionError = error;
    if (!closing && health.state === 'up') health.markDown(error);
  });
  client.on('close', () => {
    if (!closing && health.state === 'up') health.markDown(new Error('connection closed'));
  });
  client.on('ready', () => {
    if (!closing) health.markUp();
  });

  let probing = false;
  const probe = setInterval(() => {
    if (health.state !== 'down' || probing || client.status !== 'ready') return;
    probing = true;
    bounded(client.ping(), timeoutMs)
      .then(() => health.markUp())
      .catch(() => undefined)
      .finally(() => {
        probing = false;
      });
  }, options.probeIntervalMs ?? 1000);
  probe.unref();

  return {
    client,
    health,
    commandTimeoutMs: timeoutMs,
    async run<T>(operation: () => Promise<T>): Promise<T> {
      if (!health.usable) {
        health.skipped();
        throw new ClusterError('REDIS_DOWN', 'Redis is unreachable (outage in progress)');
      }
      try {
        return await bounded(operation(), timeoutMs);
      } catch (error) {
        const timedOut = error instanceof TimeoutError || (error instanceof Error && /timed out/i.test(error.message));
        const reply = !timedOut && isReplyError(error);
        health.operationFailed(error, !reply);
        throw new ClusterError(timedOut ? 'REDIS_TIMEOUT' : 'REDIS_FAILED', timedOut ? `Redis did not answer within ${timeoutMs} ms` : 'Redis operation failed', { cause: error });
      }
    },
    async waitReady(waitMs) {
      if (client.status === 'ready') return true;
      const ready = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          client.off('ready', onReady);
          resolve(false);
        }, waitMs);
        const onReady = (): void => {
          clearTimeout(timer);
          resolve(true);
        };
        client.once('ready', onReady);
      });
      if (!ready) {
        const why = lastConnectionError instanceof Error ? `: ${lastConnectionError.message}` : '';
        health.markDown(new Error(`not connected within ${waitMs} ms${why}`));
      }
      return ready;
    },
    async close() {
      closing = true;
      clearInterval(probe);
      try {
        await bounded(client.quit(), timeoutMs);
      } catch {
        client.disconnect();
      }
    },
  };
}

class TimeoutError extends Error {}

/** `promise`, or a TimeoutError after `ms` (whichever settles first; a late rejection is absorbed). */
function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

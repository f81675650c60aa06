// Shared fixtures for spool and delivery tests: a temp directory per test,
// a validated Config built from TOML (so defaults match production), a logger
// whose lines can be read back, and an envelope factory.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { validateConfigText } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/schema.ts';
import { createLogger, type Logger } from '../../src/log/logger.ts';
import type { Envelope } from '../../src/spool/types.ts';

export async function tempDir(t: { after(fn: () => Promise<void>): void }, prefix = 'rg-spool-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  // node:test runs after hooks in the order they were added, so this one runs
  // before the hooks that stop the spool and runner registered after it: a
  // write still landing in the directory makes rmdir fail with ENOTEMPTY.
  // Retry, and never fail the test (or skip the later hooks) over a temp dir.
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }).catch(() => undefined));
  return dir;
}

/** A Config from a [delivery] body (TOML lines) plus optional extra top-level TOML. */
export function testConfig(dataDir: string, delivery: string, extra = ''): Config {
  const text = [
    'hostname = "relay.test"',
    `data_dir = ${JSON.stringify(dataDir)}`,
    extra,
    '[[listeners]]',
    'address = "127.0.0.1:0"',
    'role = "mx"',
    '[delivery]',
    delivery,
  ].join('\n');
  const result = validateConfigText(path.join(dataDir, 'config.toml'), text);
  if (!result.ok) throw new Error(result.problems.map((p) => `${p.line}: ${p.message}`).join('\n'));
  return result.value;
}

export interface CapturedLogger {
  readonly logger: Logger;
  readonly lines: Array<Record<string, unknown>>;
}

export function captureLogger(level = 'info'): CapturedLogger {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger(level, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

export function envelope(overrides: Partial<Envelope> = {}): Envelope {
  return {
    sender: 'alice@sender.test',
    recipients: ['bob@dest.test'],
    clientIp: '192.0.2.10',
    helo: 'client.sender.test',
    listener: 'mx',
    receivedAt: Date.now(),
    ...overrides,
  };
}

export function rfc822(subject: string, body = 'Hello.\r\n', extraHeaders = ''): Buffer {
  return Buffer.from(
    `From: Alice <alice@sender.test>\r\nTo: Bob <bob@dest.test>\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@sender.test>\r\n${extraHeaders}\r\n${body}`,
  );
}

/** @deprecated test/helpers/wait-for.ts's waitFor under its old name, for tests written on other branches before it existed. */
export { waitFor as until } from './wait-for.ts';

// Shared by the DNSBL tests and bench: a policy from TOML text (asserting it
// parses), a pino logger whose lines the test can read, and a checker wired to
// the test DNS server through the real Resolver factory.
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Logger } from '../../src/log/logger.ts';
import { createDnsResolver } from '../../src/config/dns.ts';
import { parseDnsblFile, type DnsblPolicy } from '../../src/config/dnsbl-file.ts';
import { DnsblChecker } from '../../src/facts/dnsbl/dnsbl-checker.ts';
import type { TestDnsServer } from './dns-server.ts';

export function policyFrom(toml: string): DnsblPolicy {
  const result = parseDnsblFile('dnsbl.toml', toml);
  if (!result.ok) assert.fail(result.problems.map((p) => `${p.line}: ${p.message}`).join('\n'));
  return result.value;
}

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export function captureLogger(): { logger: Logger; lines: LogLine[]; text: () => string } {
  const raw: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (chunk: string) => void raw.push(chunk) });
  const lines: LogLine[] = [];
  return {
    logger,
    get lines() {
      lines.length = 0;
      for (const line of raw) lines.push(JSON.parse(line) as LogLine);
      return lines;
    },
    text: () => raw.join(''),
  };
}

export interface CheckerSetup {
  readonly checker: DnsblChecker;
  readonly log: ReturnType<typeof captureLogger>;
}

/** A checker against `dns` (timeout 1.5 s, 1 try: an answer late under a loaded CI machine is not a failure), with `now` as its clock if given. */
export function checkerFor(dns: TestDnsServer, toml: string, now?: () => number): CheckerSetup {
  const log = captureLogger();
  const resolver = createDnsResolver({ servers: [{ host: dns.host, port: dns.port }], timeout: 1500, tries: 1 });
  const checker = new DnsblChecker({ policy: policyFrom(toml), resolver, logger: log.logger, ...(now ? { now } : {}) });
  return { checker, log };
}

// PolicySnapshots built in memory through the real parsers, for tests of code
// that evaluates policy (rules, the engine, the SMTP front door). Lists are
// given as the policy files would hold them; an invalid line throws.
//   testSnapshot({ relayNetworks: ['10.0.0.0/8'], users: [{ name, senders }] })
//   makePolicySnapshot({ relayNetworks: ['10.0.0.0/8'], localDomains: ['example.test'] })
import { validateConfigText } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/schema.ts';
import type { CidrSet, DomainSet, PolicySnapshot } from '../../src/config/snapshot.ts';
import { parseAllowlistFile, parseDenylistFile, parseRelayNetworksFile } from '../../src/config/cidr-files.ts';
import { formatProblem, type ParseResult } from '../../src/config/errors.ts';
import { parseLocalDomainsFile } from '../../src/config/local-domains-file.ts';
import { parseRecipientsFile } from '../../src/config/recipients-file.ts';
import { POLICY_FILES } from '../../src/config/policy-files.ts';
import { MINIMAL_CONFIG } from './policy-files.ts';
import { defaultDnsblPolicy } from '../../src/config/dnsbl-file.ts';
import type { DnsblFacts, ZoneResult } from '../../src/policy/dnsbl-rule.ts';

/**
 * DNSBL facts as the checker would gather them: `listed` zones with their
 * weights (negative for a DNSWL), and on_error = "defer" zones that failed.
 */
export function dnsblFacts(clientIp: string, listed: ReadonlyArray<readonly [string, number]>, failedDefer: readonly string[] = []): DnsblFacts {
  const base = { kind: 'ip', target: 'client', subject: clientIp } as const;
  const results: ZoneResult[] = [
    ...listed.map(([zone, weight]) => ({ ...base, zone, weight, onError: 'ignore' as const, status: 'listed' as const, codes: ['127.0.0.2'] })),
    ...failedDefer.map((zone) => ({ ...base, zone, weight: 1, onError: 'defer' as const, status: 'failed' as const, problem: 'timeout' })),
  ];
  return { clientIp, results };
}
import { createUserDirectory, type UserRecord } from '../../src/config/users-file.ts';
import { dummyHash, formatHashString } from '../../src/auth/password-hash.ts';
import { compileSenderPatterns, parseSenderPattern, type SenderPattern } from '../../src/config/sender-patterns.ts';

/** A users.toml user as the real parser would build it (patterns compiled; hash never verified here). */
export function testUser(name: string, senders: readonly string[]): UserRecord {
  const patterns = senders.map(parseSenderPattern).filter((p): p is SenderPattern => typeof p !== 'string');
  const parsedHash = dummyHash({ ln: 10, r: 8, p: 1 });
  return { name, hash: formatHashString(parsedHash), parsedHash, senders, senderMatcher: compileSenderPatterns(patterns), file: 'users.toml', line: 1 };
}

export function testCidrSet(lines: readonly string[], file = 'test-list'): CidrSet {
  // The real parsers and CidrSet; denylist lines may carry a reason.
  const parse = file === 'denylist' ? parseDenylistFile : file === 'allowlist' ? parseAllowlistFile : parseRelayNetworksFile;
  return must(parse(file, lines.join('\n')));
}

export function testDomainSet(domains: readonly string[]): DomainSet {
  return must(parseLocalDomainsFile('local-domains', domains.join('\n')));
}

export const BASE_CONFIG = `
hostname = "relay.example.test"
[[listeners]]
name = "mx"
address = "192.0.2.25:25"
role = "mx"
[[listeners]]
name = "submission"
address = "192.0.2.25:587"
role = "submission"
`;

export function testConfig(extra = '', base = BASE_CONFIG): Config {
  const result = validateConfigText('/tmp/relayguard-test/config.toml', `${base}\n${extra}`);
  if (!result.ok) throw new Error(result.problems.map((p) => `${p.line}: ${p.message}`).join('\n'));
  return result.value;
}

export interface SnapshotOptions {
  readonly config?: Config;
  readonly relayNetworks?: readonly string[];
  readonly allowlist?: readonly string[];
  readonly denylist?: readonly string[];
  readonly localDomains?: readonly string[];
  /** policies/recipients lines; none = no domain verified. */
  readonly recipients?: readonly string[];
  readonly users?: ReadonlyArray<UserRecord | { readonly name: string; readonly senders: readonly string[] }>;
  readonly dnsblThreshold?: number;
  readonly limits?: PolicySnapshot['limits'];
  readonly checks?: PolicySnapshot['checks'];
}

export function testSnapshot(options: SnapshotOptions = {}): PolicySnapshot {
  const users = createUserDirectory((options.users ?? []).map((u) => ('senderMatcher' in u ? u : testUser(u.name, u.senders))));
  return {
    generation: 1,
    loadedAt: new Date(0),
    config: options.config ?? testConfig(),
    relayNetworks: testCidrSet(options.relayNetworks ?? ['127.0.0.1', '10.0.0.0/8'], 'relay-networks'),
    allowlist: testCidrSet(options.allowlist ?? ['198.51.100.7'], 'allowlist'),
    denylist: testCidrSet(options.denylist ?? ['203.0.113.0/24 known spam source', '203.0.113.99'], 'denylist'),
    localDomains: testDomainSet(options.localDomains ?? ['example.test', 'xn--bcher-kva.example']),
    recipients: must(parseRecipientsFile('recipients', (options.recipients ?? []).join('\n'))),
    users,
    dnsbl: { ...defaultDnsblPolicy(), threshold: options.dnsblThreshold ?? 1 },
    limits: options.limits ?? POLICY_FILES.limits.empty(),
    checks: options.checks ?? POLICY_FILES.checks.empty(),
  };
}

function must<T>(result: ParseResult<T>): T {
  if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
  return result.value;
}

export interface SnapshotLines {
  readonly relayNetworks?: readonly string[];
  readonly allowlist?: readonly string[];
  readonly denylist?: readonly string[];
  readonly localDomains?: readonly string[];
  readonly recipients?: readonly string[];
  /** config.toml text; defaults to a minimal valid one. */
  readonly configText?: string;
  readonly generation?: number;
  readonly users?: PolicySnapshot['users'];
  readonly dnsbl?: PolicySnapshot['dnsbl'];
  readonly limits?: PolicySnapshot['limits'];
  readonly checks?: PolicySnapshot['checks'];
}

export function makePolicySnapshot(lines: SnapshotLines = {}): PolicySnapshot {
  const join = (list: readonly string[] | undefined): string => (list ?? []).join('\n');
  return Object.freeze({
    generation: lines.generation ?? 1,
    loadedAt: new Date(0),
    config: must(validateConfigText('/test/config.toml', lines.configText ?? MINIMAL_CONFIG)),
    relayNetworks: must(parseRelayNetworksFile('relay-networks', join(lines.relayNetworks))),
    allowlist: must(parseAllowlistFile('allowlist', join(lines.allowlist))),
    denylist: must(parseDenylistFile('denylist', join(lines.denylist))),
    localDomains: must(parseLocalDomainsFile('local-domains', join(lines.localDomains))),
    recipients: must(parseRecipientsFile('recipients', join(lines.recipients))),
    users: lines.users ?? POLICY_FILES.users.empty(),
    dnsbl: lines.dnsbl ?? POLICY_FILES.dnsbl.empty(),
    limits: lines.limits ?? POLICY_FILES.limits.empty(),
    checks: lines.checks ?? POLICY_FILES.checks.empty(),
  });
}

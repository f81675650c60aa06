// Test-only PolicySnapshot factory for pure policy tests. The config goes
// through the real schema (validateConfigText); the CIDR and domain sets are
// tiny linear implementations of the snapshot interfaces (the real ones,
// built for speed, live in config/). Lists are given as the policy files would
// hold them.
import ipaddr from 'ipaddr.js';
import { validateConfigText } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/schema.ts';
import type { CidrEntry, CidrSet, DomainSet, PolicySnapshot } from '../../src/config/snapshot.ts';
import { createUserDirectory, type UserRecord } from '../../src/auth/users-file.ts';
import { dummyHash, formatHashString } from '../../src/auth/password-hash.ts';
import { compileSenderPatterns, parseSenderPattern, type SenderPattern } from '../../src/policy/sender-rule.ts';

/** A users.toml user as the real parser would build it (patterns compiled; hash never verified here). */
export function testUser(name: string, senders: readonly string[]): UserRecord {
  const patterns = senders.map(parseSenderPattern).filter((p): p is SenderPattern => typeof p !== 'string');
  const parsedHash = dummyHash({ ln: 10, r: 8, p: 1 });
  return { name, hash: formatHashString(parsedHash), parsedHash, senders, senderMatcher: compileSenderPatterns(patterns), file: 'users.toml', line: 1 };
}

export function testCidrSet(lines: readonly string[], file = 'test-list'): CidrSet {
  const entries = lines.map((text, index) => {
    const [cidr, ...rest] = text.trim().split(/\s+/) as [string, ...string[]];
    const range = cidr.includes('/') ? ipaddr.parseCIDR(cidr) : (() => {
      const addr = ipaddr.process(cidr);
      return [addr, addr.kind() === 'ipv4' ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number];
    })();
    const entry: CidrEntry = rest.length > 0 ? { cidr, file, line: index + 1, reason: rest.join(' ') } : { cidr, file, line: index + 1 };
    return { entry, range };
  });
  const lookup = (ip: string): CidrEntry | undefined => {
    let addr: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      addr = ipaddr.process(ip);
    } catch {
      return undefined;
    }
    let best: { entry: CidrEntry; bits: number } | undefined;
    for (const { entry, range } of entries) {
      if (range[0].kind() !== addr.kind()) continue;
      if (addr.match(range as [ipaddr.IPv4, number] & [ipaddr.IPv6, number]) && (!best || range[1] > best.bits)) best = { entry, bits: range[1] };
    }
    return best?.entry;
  };
  return { size: entries.length, lookup, contains: (ip) => lookup(ip) !== undefined };
}

export function testDomainSet(domains: readonly string[]): DomainSet {
  const set = new Set(domains.map((d) => d.toLowerCase()));
  return { size: set.size, has: (d) => set.has(d) };
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
  readonly users?: ReadonlyArray<UserRecord | { readonly name: string; readonly senders: readonly string[] }>;
  readonly dnsblThreshold?: number;
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
    users,
    dnsbl: { zones: [], threshold: options.dnsblThreshold ?? 1 },
    limits: {},
  };
}

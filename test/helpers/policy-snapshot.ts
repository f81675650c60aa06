// A PolicySnapshot built in memory through the real parsers, for tests of code
// that evaluates policy (rules, the engine, the SMTP front door):
//   makePolicySnapshot({ relayNetworks: ['10.0.0.0/8'], localDomains: ['example.test'] })
// Lines are written exactly as in the policy files; an invalid one throws.
import { parseAllowlistFile, parseDenylistFile, parseRelayNetworksFile } from '../../src/config/cidr-files.ts';
import { formatProblem, type ParseResult } from '../../src/config/errors.ts';
import { validateConfigText } from '../../src/config/load-config.ts';
import { parseLocalDomainsFile } from '../../src/config/local-domains-file.ts';
import { POLICY_FILES } from '../../src/config/policy-files.ts';
import type { PolicySnapshot } from '../../src/config/snapshot.ts';
import { MINIMAL_CONFIG } from './policy-files.ts';

export interface SnapshotLines {
  readonly relayNetworks?: readonly string[];
  readonly allowlist?: readonly string[];
  readonly denylist?: readonly string[];
  readonly localDomains?: readonly string[];
  /** config.toml text; defaults to a minimal valid one. */
  readonly configText?: string;
  readonly generation?: number;
  readonly users?: PolicySnapshot['users'];
  readonly dnsbl?: PolicySnapshot['dnsbl'];
  readonly limits?: PolicySnapshot['limits'];
}

function must<T>(result: ParseResult<T>): T {
  if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
  return result.value;
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
    users: lines.users ?? POLICY_FILES.users.empty(),
    dnsbl: lines.dnsbl ?? POLICY_FILES.dnsbl.empty(),
    limits: lines.limits ?? POLICY_FILES.limits.empty(),
  });
}

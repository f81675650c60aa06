// The immutable PolicySnapshot: config.toml plus every file in policies/,
// validated together. A connection keeps the snapshot it started with; a
// reload builds a new one and swaps it in for new connections.
import type { Config } from './schema.ts';
import type { UserDirectory } from './users-file.ts';
import type { RecipientMap } from './recipients-file.ts';
import type { DnsblPolicy } from './dnsbl-file.ts';
import type { LimitsPolicy } from './limits-file.ts';
import type { ChecksPolicy } from './checks-file.ts';
import type { CidrSet } from '../net/cidr-set.ts';
import type { DomainSet } from '../net/domain-set.ts';

export type { CidrEntry, CidrSet } from '../net/cidr-set.ts';
export type { DomainSet } from '../net/domain-set.ts';

export interface PolicySnapshot {
  /** Increments with every successful reload; logged with decisions. */
  readonly generation: number;
  readonly loadedAt: Date;
  readonly config: Config;
  readonly relayNetworks: CidrSet;
  readonly allowlist: CidrSet;
  readonly denylist: CidrSet;
  readonly localDomains: DomainSet;
  /** Static recipient verification for local domains (policies/recipients). */
  readonly recipients: RecipientMap;
  readonly users: UserDirectory;
  readonly dnsbl: DnsblPolicy;
  readonly limits: LimitsPolicy;
  /** HELO and sender-domain sanity checks (policies/checks.toml). */
  readonly checks: ChecksPolicy;
}

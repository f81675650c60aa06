// The immutable PolicySnapshot: config.toml plus every file in policies/,
// validated together. A connection keeps the snapshot it started with; a
// reload builds a new one and swaps it in for new connections.
import type { Config } from './schema.ts';
import type { UserDirectory } from '../auth/users-file.ts';
import type { DnsblPolicy } from '../facts/dnsbl/dnsbl-file.ts';
import type { LimitsPolicy } from '../facts/limits/limits-file.ts';
import type { ChecksPolicy } from './checks-file.ts';

/** One line of a CIDR list file, as the administrator wrote it. */
export interface CidrEntry {
  readonly cidr: string;
  readonly file: string;
  readonly line: number;
  /** Optional free text after the CIDR (denylist reasons). */
  readonly reason?: string;
}

/** A set of networks answering membership without scanning every entry. */
export interface CidrSet {
  readonly size: number;
  /** The most specific entry containing `ip` (IPv4-mapped IPv6 matches IPv4 entries). */
  lookup(ip: string): CidrEntry | undefined;
  contains(ip: string): boolean;
}

/** Normalised (lower-case, punycode, no trailing dot) domain names. */
export interface DomainSet {
  readonly size: number;
  has(domain: string): boolean;
}

export interface PolicySnapshot {
  /** Increments with every successful reload; logged with decisions. */
  readonly generation: number;
  readonly loadedAt: Date;
  readonly config: Config;
  readonly relayNetworks: CidrSet;
  readonly allowlist: CidrSet;
  readonly denylist: CidrSet;
  readonly localDomains: DomainSet;
  readonly users: UserDirectory;
  readonly dnsbl: DnsblPolicy;
  readonly limits: LimitsPolicy;
  /** HELO and sender-domain sanity checks (policies/checks.toml). */
  readonly checks: ChecksPolicy;
}

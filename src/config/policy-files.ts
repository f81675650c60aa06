// The registry of policy file kinds: which file in policies_dir fills which
// field of the PolicySnapshot. Adding a kind is one line in POLICY_FILES (the
// type makes the compiler insist on one kind per snapshot field). Every file
// is optional: a missing file is the kind's empty value.
import type { ParseResult } from './errors.ts';
import type { PolicySnapshot } from './snapshot.ts';
import { emptyCidrSet } from '../net/cidr-set.ts';
import { parseAllowlistFile, parseDenylistFile, parseRelayNetworksFile } from './cidr-files.ts';
import { createDomainSet } from '../net/domain-set.ts';
import { parseLocalDomainsFile } from './local-domains-file.ts';
import { emptyRecipientMap, parseRecipientsFile } from './recipients-file.ts';
import { parseChecksFile, defaultChecksPolicy, countChecks } from './checks-file.ts';
import { countLimits, defaultLimitsPolicy, parseLimitsFile } from './limits-file.ts';
import { defaultDnsblPolicy, parseDnsblFile } from './dnsbl-file.ts';
import { emptyUserDirectory, parseUsersFile } from './users-file.ts';

/** The snapshot fields that come from files in policies_dir. */
export type PolicyParts = Omit<PolicySnapshot, 'generation' | 'loadedAt' | 'config'>;

export interface PolicyFileKind<T> {
  /** The file name inside policies_dir. */
  readonly fileName: string;
  readonly parse: (file: string, text: string) => ParseResult<T>;
  /** The value when the file does not exist. */
  readonly empty: () => T;
  /** For the one-line summary of `check` and reloads: "12 networks". */
  readonly count: (value: T) => number;
  /** Plural; the summary drops the final "s" for a count of 1. */
  readonly noun: string;
}

export type PolicyFileRegistry = { readonly [K in keyof PolicyParts]: PolicyFileKind<PolicyParts[K]> };

const cidrKind = (fileName: string, parse: PolicyFileKind<PolicyParts['allowlist']>['parse']): PolicyFileKind<PolicyParts['allowlist']> => ({
  fileName,
  parse,
  empty: emptyCidrSet,
  count: (set) => set.size,
  noun: 'networks',
});

export const POLICY_FILES: PolicyFileRegistry = {
  relayNetworks: cidrKind('relay-networks', parseRelayNetworksFile),
  allowlist: cidrKind('allowlist', parseAllowlistFile),
  denylist: cidrKind('denylist', parseDenylistFile),
  localDomains: { fileName: 'local-domains', parse: parseLocalDomainsFile, empty: () => createDomainSet([]), count: (s) => s.size, noun: 'domains' },
  recipients: { fileName: 'recipients', parse: parseRecipientsFile, empty: emptyRecipientMap, count: (r) => r.size, noun: 'recipients' },
  users: { fileName: 'users.toml', parse: parseUsersFile, empty: emptyUserDirectory, count: (u) => u.size, noun: 'users' },
  dnsbl: { fileName: 'dnsbl.toml', parse: parseDnsblFile, empty: defaultDnsblPolicy, count: (d) => d.zones.length, noun: 'zones' },
  limits: { fileName: 'limits.toml', parse: parseLimitsFile, empty: defaultLimitsPolicy, count: countLimits, noun: 'limits' },
  checks: { fileName: 'checks.toml', parse: parseChecksFile, empty: defaultChecksPolicy, count: countChecks, noun: 'checks' },
};

/** File names the watcher reacts to. */
export function policyFileNames(registry: PolicyFileRegistry = POLICY_FILES): string[] {
  return Object.values(registry).map((kind) => kind.fileName);
}

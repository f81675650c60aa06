// STUB owned by the DNSBL issue: policies/dnsbl.toml.
export interface DnsblPolicy {
  readonly zones: readonly unknown[];
  readonly threshold: number;
}

// PURE. Special-use domain names (RFC 6761) that can never receive mail:
// `localhost` and `invalid`, and every name under them. A sender in one of
// them can never get a bounce, and no DNS server is to be asked about them
// (RFC 6761 6.3, 6.4: resolvers answer them locally, or NXDOMAIN).
// `test` (6.2) is deliberately not in the list: test suites and admins' labs
// use it for real mail between their own machines.
const SPECIAL_USE = ['localhost', 'invalid'] as const;

/** The special-use name `domain` is or lies under, else undefined. `domain` is normalised (lower case, no trailing dot). */
export function specialUseDomain(domain: string): string | undefined {
  return SPECIAL_USE.find((name) => domain === name || domain.endsWith(`.${name}`));
}

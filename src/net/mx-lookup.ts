// The DNS half of "where does mail for this domain go" (RFC 5321 §5.1, null MX
// RFC 7505), shared by the sender-domain check (can the sender receive a
// bounce?) and the delivery engine's MX resolution (where do we deliver?).
// Values, never exceptions: each caller decides what a failure means for it.
import { classifyDnsError } from './dns-resolver.ts';

/** The slice of node:dns/promises Resolver these lookups need. */
export interface MxLookupDns {
  resolveMx(name: string): Promise<Array<{ exchange: string; priority: number }>>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
}

export type MxAnswer =
  /** Exchanges as published: lower case, no trailing dot, the empty (".") ones left out. */
  | { readonly kind: 'exchanges'; readonly exchanges: ReadonlyArray<{ readonly exchange: string; readonly priority: number }> }
  /** One record with exchange "." (RFC 7505): the domain accepts no mail. */
  | { readonly kind: 'null_mx' }
  /** No MX records (NODATA): the domain itself is the implicit MX. */
  | { readonly kind: 'none' }
  | { readonly kind: 'nxdomain' }
  /** The lookup failed (timeout, SERVFAIL, refused...): nothing is known. `code` is c-ares's. */
  | { readonly kind: 'failed'; readonly code: string };

export type AddressAnswer =
  | { readonly kind: 'addresses'; readonly addresses: readonly string[] }
  /** Neither A nor AAAA records (NXDOMAIN or NODATA for both); `code` is the first family's. */
  | { readonly kind: 'none'; readonly code: string }
  /** A lookup failed and the other found nothing; `code` is the failure's. */
  | { readonly kind: 'failed'; readonly code: string };

export function dnsErrorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}

const isNoRecord = (error: unknown): boolean => {
  const kind = classifyDnsError(error);
  return kind === 'nxdomain' || kind === 'nodata';
};

export async function lookupMx(dns: MxLookupDns, domain: string): Promise<MxAnswer> {
  let records: Array<{ exchange: string; priority: number }>;
  try {
    records = await dns.resolveMx(domain);
  } catch (error) {
    const kind = classifyDnsError(error);
    if (kind === 'nxdomain') return { kind: 'nxdomain' };
    if (kind === 'nodata') return { kind: 'none' };
    return { kind: 'failed', code: dnsErrorCode(error) };
  }
  const exchanges = records.map((record) => ({ exchange: record.exchange.replace(/\.$/, '').toLowerCase(), priority: record.priority }));
  if (exchanges.length === 1 && exchanges[0]?.exchange === '') return { kind: 'null_mx' };
  const named = exchanges.filter((record) => record.exchange !== '');
  return named.length > 0 ? { kind: 'exchanges', exchanges: named } : { kind: 'none' };
}

/** A and AAAA records of `name`, asked in parallel. */
export async function lookupAddresses(dns: MxLookupDns, name: string): Promise<AddressAnswer> {
  const answers = await Promise.allSettled([dns.resolve4(name), dns.resolve6(name)]);
  const addresses = answers.flatMap((answer) => (answer.status === 'fulfilled' ? answer.value : []));
  if (addresses.length > 0) return { kind: 'addresses', addresses };
  const failure = answers.find((answer) => answer.status === 'rejected' && !isNoRecord(answer.reason));
  if (failure) return { kind: 'failed', code: dnsErrorCode((failure as PromiseRejectedResult).reason) };
  const first = answers[0];
  return { kind: 'none', code: first?.status === 'rejected' ? dnsErrorCode(first.reason) : 'ENODATA' };
}

// policies/checks.toml -> ChecksPolicy: the switches of the client and
// envelope sanity checks (Postfix's reject_invalid_helo_hostname,
// reject_non_fqdn_helo_hostname, a check_helo_access that refuses our own
// names, reject_unknown_sender_domain). Pure parser following the policy-file
// contract; a missing file or key means the default below. The rules that use
// it are src/policy/rules/helo-*.ts and sender-domain.ts; trusted clients
// (relay networks, allowlist, authenticated users) are exempt from all of them.
import * as z from 'zod';
import { parseTomlWith } from './load-config.ts';
import type { ParseResult } from './errors.ts';
import { parseDuration } from './units.ts';

export interface HeloChecks {
  /** HELO naming us (config hostname, our_names, one of our addresses, localhost from afar). */
  readonly rejectImpersonation: boolean;
  /** HELO that is neither a host name nor an address literal. */
  readonly rejectInvalid: boolean;
  /** HELO that is a bare name without a dot ("EXCHANGE01"). */
  readonly rejectNonFqdn: boolean;
  /** More names that are us (lower case, no trailing dot): our other host names, our MX names. */
  readonly ourNames: ReadonlySet<string>;
}

export interface SenderDomainChecks {
  /** Resolve the MAIL FROM domain; refuse one that does not exist or has a null MX. */
  readonly enabled: boolean;
  /** A domain with no MX and no address: refused (550) or deferred (450, Postfix's default). */
  readonly unknownReply: 'reject' | 'defer';
  /** A lookup that fails (timeout, SERVFAIL): defer (450, as Postfix) or accept the sender. */
  readonly onDnsError: 'defer' | 'accept';
  /** Bound on the whole check (MX then A/AAAA), in milliseconds. */
  readonly timeout: number;
  /** How long an answer is reused (failures never are), in milliseconds. */
  readonly cacheTtl: number;
}

export interface ChecksPolicy {
  readonly helo: HeloChecks;
  readonly senderDomain: SenderDomainChecks;
}

const duration = (fallback: string, min: number) =>
  z
    .string()
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === null || ms < min) {
        ctx.addIssue({ code: 'custom', message: `invalid duration "${text}" (write e.g. 500ms, 5s, 10m; at least ${min} ms)` });
        return z.NEVER;
      }
      return ms;
    })
    .prefault(fallback);

const hostName = z
  .string()
  .transform((text) => text.trim().toLowerCase().replace(/\.$/, ''))
  .refine((name) => /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/.test(name), 'invalid host name');

const schema = z
  .object({
    helo: z
      .object({
        reject_impersonation: z.boolean().default(true),
        reject_invalid: z.boolean().default(true),
        // Off by default: on port 25 a fair number of real (if misconfigured)
        // servers still say "EHLO EXCHANGE01"; turn it on once the log shows
        // who would be refused.
        reject_non_fqdn: z.boolean().default(false),
        our_names: z.array(hostName).default([]),
      })
      .strict()
      .prefault({}),
    sender_domain: z
      .object({
        reject_unknown: z.boolean().default(true),
        unknown_reply: z.enum(['reject', 'defer']).default('reject'),
        on_dns_error: z.enum(['defer', 'accept']).default('defer'),
        timeout: duration('5s', 100),
        cache_ttl: duration('10m', 0),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export function parseChecksFile(file: string, text: string): ParseResult<ChecksPolicy> {
  const parsed = parseTomlWith(file, text, schema);
  if (!parsed.ok) return parsed;
  const { helo, sender_domain: sender } = parsed.value;
  return {
    ok: true,
    value: Object.freeze({
      helo: Object.freeze({
        rejectImpersonation: helo.reject_impersonation,
        rejectInvalid: helo.reject_invalid,
        rejectNonFqdn: helo.reject_non_fqdn,
        ourNames: new Set(helo.our_names),
      }),
      senderDomain: Object.freeze({
        enabled: sender.reject_unknown,
        unknownReply: sender.unknown_reply,
        onDnsError: sender.on_dns_error,
        timeout: sender.timeout,
        cacheTtl: sender.cache_ttl,
      }),
    }),
  };
}

/** The policy when policies/checks.toml does not exist. */
export function defaultChecksPolicy(): ChecksPolicy {
  const parsed = parseChecksFile('checks.toml', '');
  if (!parsed.ok) throw new Error('the built-in checks defaults do not parse');
  return parsed.value;
}

/** Checks switched on, for the summary line of `check` and reloads. */
export function countChecks(policy: ChecksPolicy): number {
  const { helo, senderDomain } = policy;
  return [helo.rejectImpersonation, helo.rejectInvalid, helo.rejectNonFqdn, senderDomain.enabled].filter(Boolean).length;
}

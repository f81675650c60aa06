// The zod shape of policies/dnsbl.toml, keys as the administrator writes them.
// Values that need parsing (durations, return codes) are turned into numbers
// and ranges here, so problems carry the path that locates their line.
// Every key is shown and explained in policies/dnsbl.toml.
import * as z from 'zod';
import { parseDuration } from './units.ts';
import { parseCodeRange } from './return-codes.ts';

const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `invalid duration "${text}" (write e.g. 30s, 5m, 1h)` });
    return z.NEVER;
  }
  return ms;
});

const codeRange = z.string().transform((text, ctx) => {
  const range = parseCodeRange(text);
  if (typeof range === 'string') {
    ctx.addIssue({ code: 'custom', message: range });
    return z.NEVER;
  }
  return range;
});

const LABEL = '[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?';
const dnsName = z
  .string()
  .transform((text) => text.trim().toLowerCase().replace(/\.$/, ''))
  .pipe(z.string().regex(new RegExp(`^(?=.{1,200}$)${LABEL}(\\.${LABEL})*$`), 'not a DNS name'));

// What a client may be shown: printable ASCII, no spaces (it sits in a reply line).
const displayName = z.string().regex(/^[\x21-\x7e]{1,100}$/, 'printable characters without spaces, at most 100');

export const zoneSchema = z
  .object({
    zone: dnsName,
    name: displayName.optional(),
    key: dnsName.optional(),
    kind: z.enum(['ip', 'domain']).default('ip'),
    weight: z.number().finite().default(1),
    codes: z.array(codeRange).default([]),
    exclude_codes: z.array(codeRange).default([]),
    bitmask: z.number().int().min(1).max(255).optional(),
    ipv6: z.boolean().default(false),
    check: z.array(z.enum(['sender', 'helo'])).min(1).default(['sender', 'helo']),
    on_error: z.enum(['ignore', 'defer']).default('ignore'),
    txt: z.boolean().default(true),
    test_entry: z.boolean().default(true),
    reply: z
      .string()
      .max(200)
      .regex(/^[\x20-\x7e]*$/, 'printable ASCII on one line')
      .optional(),
    enabled: z.boolean().default(true),
  })
  .strict();

export const dnsblSchema = z
  .object({
    threshold: z.number().finite().positive('threshold must be above 0 (at 0 every client would be refused)').default(1),
    check_private_clients: z.boolean().default(false),
    cache: z
      .object({
        max_entries: z.number().int().positive().max(1_000_000).default(10_000),
        negative_ttl: duration.default(300_000),
        min_ttl: duration.default(60_000),
        max_ttl: duration.default(3_600_000),
      })
      .strict()
      .prefault({}),
    health: z
      .object({
        probe_interval: duration.default(600_000),
        suspended_probe_interval: duration
          .refine((ms) => ms >= 1000, 'at least 1s (a suspended zone is only resumed by a probe)')
          .default(60_000),
        failures_to_suspend: z.number().int().positive().default(5),
        healthy_probes_to_resume: z.number().int().positive().default(2),
        hit_rate_window: z.number().int().min(10).default(200),
        hit_rate_min_samples: z.number().int().positive().default(50),
        max_hit_rate: z.number().gt(0).max(1).default(0.95),
      })
      .strict()
      .prefault({}),
    zones: z.array(zoneSchema).default([]),
  })
  .strict();

export type RawDnsblFile = z.infer<typeof dnsblSchema>;
export type RawZone = z.infer<typeof zoneSchema>;

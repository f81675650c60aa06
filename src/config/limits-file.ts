// policies/limits.toml -> LimitsPolicy. Pure: parseLimitsFile(file, text)
// returns the policy or every problem as file:line. Only THRESHOLDS live here;
// the counters that are compared with them are in counters.ts (Postfix's
// anvil counts, smtpd compares). A missing file or key means the generous
// default below, so an administrator only writes what they change.
//
//   [global]          max_connections                      open connections, all listeners
//   [ip]              max_connections, connections,         per client address (or prefix)
//                     messages, recipients, ipv4_prefix, ipv6_prefix
//   [user]            messages, recipients                  per authenticated user
//   [sender_domain]   messages, recipients                  per MAIL FROM domain
//
// A rate is written "COUNT/WINDOW" ("60/1m", "500/1h", "2000/1d"), a list of
// them for several windows, or "off".
import * as z from 'zod';
import { parseTomlWith } from './load-config.ts';
import type { ParseResult } from './errors.ts';
import { parseDuration } from './units.ts';

/** One counting window: at most `count` events per `windowMs`. */
export interface RateWindow {
  readonly count: number;
  readonly windowMs: number;
  /** As written ("500/1h"), for logs and `check`. */
  readonly text: string;
}

export type RateWindows = readonly RateWindow[];

export interface LimitsPolicy {
  /** Open SMTP connections of the whole process; 0 = no cap. */
  readonly global: { readonly maxConnections: number };
  readonly ip: {
    /** Open connections from one client (prefix); 0 = no cap. */
    readonly maxConnections: number;
    /** New connections per window. */
    readonly connections: RateWindows;
    readonly messages: RateWindows;
    readonly recipients: RateWindows;
    /** Clients are counted per prefix: 32 = per IPv4 address; 64 = per IPv6 /64 (one host usually owns a /64). */
    readonly ipv4Prefix: number;
    readonly ipv6Prefix: number;
  };
  /** Defaults for authenticated users; a user's quota in users.toml replaces them. */
  readonly user: { readonly messages: RateWindows; readonly recipients: RateWindows };
  readonly senderDomain: { readonly messages: RateWindows; readonly recipients: RateWindows };
}

/** Windows are counted by rate-limiter-flexible in whole seconds; timers cap them at about 24 days, we at 7. */
const MAX_WINDOW_MS = 7 * 86_400_000;

/** "500/1h" -> a RateWindow, or the problem in words. */
export function parseRateText(text: string): RateWindow | string {
  const match = /^\s*(\d+)\s*\/\s*(\S+)\s*$/.exec(text);
  if (!match) return `invalid rate "${text}" (write COUNT/WINDOW, e.g. "60/1m", "500/1h", or "off")`;
  const count = Number(match[1]);
  const windowMs = parseDuration(match[2] as string);
  if (!Number.isSafeInteger(count) || count < 1) return `invalid rate "${text}": the count must be at least 1 (write "off" to disable)`;
  if (windowMs === null) return `invalid rate "${text}": "${match[2]}" is not a duration (write e.g. 1m, 1h, 1d)`;
  if (windowMs < 1000 || windowMs % 1000 !== 0) return `invalid rate "${text}": the window must be a whole number of seconds, at least 1s`;
  if (windowMs > MAX_WINDOW_MS) return `invalid rate "${text}": the window must be at most 7d`;
  return { count, windowMs, text: `${count}/${(match[2] as string).toLowerCase()}` };
}

const rates = z.union([z.string(), z.array(z.string())]).transform((value, ctx): RateWindow[] => {
  const texts = typeof value === 'string' ? (value.trim().toLowerCase() === 'off' ? [] : [value]) : value;
  const windows: RateWindow[] = [];
  texts.forEach((text, index) => {
    const parsed = parseRateText(text);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: parsed, path: typeof value === 'string' ? [] : [index] });
    } else if (windows.some((w) => w.windowMs === parsed.windowMs)) {
      ctx.addIssue({ code: 'custom', message: `two rates with the same window (${parsed.text}); keep one`, path: typeof value === 'string' ? [] : [index] });
    } else {
      windows.push(parsed);
    }
  });
  return windows;
});

// prefault, not default: zod 4's default is an output value and would skip the parsing above.
const rate = (text: string | readonly string[]) => rates.prefault(typeof text === 'string' ? text : [...text]);
const cap = (value: number) => z.number().int().nonnegative().default(value);

/** Generous on purpose: they stop floods and bursts, never an honest sender of a small or medium site. */
const schema = z
  .object({
    global: z.object({ max_connections: cap(1000) }).strict().prefault({}),
    ip: z
      .object({
        max_connections: cap(30),
        connections: rate('60/1m'),
        messages: rate('500/1h'),
        recipients: rate('2000/1h'),
        ipv4_prefix: z.number().int().min(8).max(32).default(32),
        ipv6_prefix: z.number().int().min(16).max(128).default(64),
      })
      .strict()
      .prefault({}),
    user: z
      .object({ messages: rate(['200/1h', '2000/1d']), recipients: rate(['1000/1h', '5000/1d']) })
      .strict()
      .prefault({}),
    // Off by default: what is normal for one sender domain (a freemail
    // provider, a mailing list host) differs too much from site to site.
    sender_domain: z.object({ messages: rate('off'), recipients: rate('off') }).strict().prefault({}),
  })
  .strict();

export function parseLimitsFile(file: string, text: string): ParseResult<LimitsPolicy> {
  const parsed = parseTomlWith(file, text, schema);
  if (!parsed.ok) return parsed;
  const raw = parsed.value;
  return {
    ok: true,
    value: deepFreeze({
      global: { maxConnections: raw.global.max_connections },
      ip: {
        maxConnections: raw.ip.max_connections,
        connections: raw.ip.connections,
        messages: raw.ip.messages,
        recipients: raw.ip.recipients,
        ipv4Prefix: raw.ip.ipv4_prefix,
        ipv6Prefix: raw.ip.ipv6_prefix,
      },
      user: { messages: raw.user.messages, recipients: raw.user.recipients },
      senderDomain: { messages: raw.sender_domain.messages, recipients: raw.sender_domain.recipients },
    }),
  };
}

/** The policy when policies/limits.toml does not exist: every default above. */
export function defaultLimitsPolicy(): LimitsPolicy {
  const parsed = parseLimitsFile('limits.toml', '');
  if (!parsed.ok) throw new Error('the built-in limits defaults do not parse');
  return parsed.value;
}

/** How many limits are in force, for the summary line of `check` and reloads. */
export function countLimits(policy: LimitsPolicy): number {
  const caps = [policy.global.maxConnections, policy.ip.maxConnections].filter((n) => n > 0).length;
  const windows = [policy.ip.connections, policy.ip.messages, policy.ip.recipients, policy.user.messages, policy.user.recipients, policy.senderDomain.messages, policy.senderDomain.recipients];
  return caps + windows.reduce((sum, list) => sum + list.length, 0);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

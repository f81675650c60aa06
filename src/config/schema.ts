// The shape of config.toml (infrastructure). Who may do what lives in
// policies/, not here. Every key is documented in config.example.toml.
import * as z from 'zod';
import { parseHostPort } from '../net/host-port.ts';
import ipaddr from 'ipaddr.js';
import net from 'node:net';
import { parseDuration, parseSize } from './units.ts';

const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `invalid duration "${text}" (write e.g. 30s, 5m, 4h, 5d)` });
    return z.NEVER;
  }
  return ms;
});

const size = z.union([z.number().int().nonnegative(), z.string()]).transform((value, ctx) => {
  const bytes = typeof value === 'number' ? value : parseSize(value);
  if (bytes === null) {
    ctx.addIssue({ code: 'custom', message: `invalid size "${value}" (write e.g. 512KB, 25MB)` });
    return z.NEVER;
  }
  return bytes;
});


// An address our mail leaves from, as the world sees it: public, so a DNSBL can list it.
const PRIVATE_RANGES = new Set(['private', 'loopback', 'linkLocal', 'uniqueLocal', 'unspecified', 'carrierGradeNat', 'broadcast', 'multicast']);
const publicAddress = z.string().transform((text, ctx) => {
  const bare = text.trim();
  // net.isIP is strict; ipaddr.js would also take "1.2.3" or "0x7f.1".
  if (net.isIP(bare) === 0) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not an IP address (write e.g. "203.0.113.25" or "2001:db8::25")` });
    return z.NEVER;
  }
  const parsed = ipaddr.process(bare);
  if (PRIVATE_RANGES.has(parsed.range())) {
    ctx.addIssue({
      code: 'custom',
      message: `"${text}" is a ${parsed.range()} address: no public DNSBL lists it; write the public address your mail leaves from (behind NAT, the router's outside address)`,
    });
    return z.NEVER;
  }
  return parsed.kind() === 'ipv4' ? parsed.toString() : (parsed as ipaddr.IPv6).toRFC5952String();
});

const hostPort = (defaultPort?: number) =>
  z.string().transform((text, ctx) => {
    const parsed = parseHostPort(text, defaultPort);
    if (!parsed) {
      ctx.addIssue({ code: 'custom', message: `invalid address "${text}" (write host:port)` });
      return z.NEVER;
    }
    return parsed;
  });

const cidr = z.string().refine((text) => {
  try {
    if (text.includes('/')) ipaddr.parseCIDR(text);
    else ipaddr.parse(text);
    return true;
  } catch {
    return false;
  }
}, 'invalid IP address or CIDR');

const hostname = z
  .string()
  .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i, 'invalid host name');

const accountAction = z.enum(['log', 'hold', 'lock']);

/** One threshold trigger of [accounts]: a floor, a factor of the user's baseline, a window, an action. */
function accountTrigger(defaults: { factor: number; floor: number; window: number }) {
  return z
    .object({
      factor: z.number().min(1).default(defaults.factor),
      floor: z.number().int().positive().default(defaults.floor),
      window: duration.default(defaults.window),
      action: accountAction.default('hold'),
    })
    .strict()
    .prefault({});
}

/** [accounts]: account anomaly detection (issue 19 item 2; src/accounts). Exported for the detector's tests and bench. */
export const accountsSection = z
  .object({
    enabled: z.boolean().default(true),
    // The baseline: a user's busiest hour (messages, distinct recipient domains), decaying with this half-life.
    baseline_half_life: duration.default(7 * 86_400_000),
    // Messages in the last hour over max(floor, factor x the user's baseline).
    volume: accountTrigger({ factor: 5, floor: 300, window: 3_600_000 }),
    // Distinct recipient domains in the window over max(floor, factor x the user's baseline).
    recipient_domains: accountTrigger({ factor: 5, floor: 100, window: 3_600_000 }),
    // Successful logins from more than `floor` distinct client networks (/24 IPv4, /48 IPv6) in the window.
    login_networks: z
      .object({ floor: z.number().int().positive().default(5), window: duration.default(3_600_000), action: accountAction.default('hold') })
      .strict()
      .prefault({}),
    // At least `floor` remote answers for the user's mail in the window, and `share` of them 5xx.
    remote_refusals: z
      .object({ floor: z.number().int().positive().default(20), share: z.number().gt(0).max(1).default(0.5), window: duration.default(3_600_000), action: accountAction.default('hold') })
      .strict()
      .prefault({}),
    // A sender address the user never used before, on a message that fires another trigger.
    new_sender: z.object({ action: accountAction.default('hold') }).strict().prefault({}),
    // Where suspects, locks and baselines are kept across restarts (relative to data_dir).
    state_file: z.string().min(1).default('accounts.json'),
  })
  .strict()
  .prefault({});

const listener = z
  .object({
    name: z.string().min(1).optional(),
    address: hostPort(),
    role: z.enum(['mx', 'submission']),
    tls: z.enum(['none', 'starttls', 'implicit']).default('starttls'),
    auth: z.boolean().optional(),
    proxy_protocol_from: z.array(cidr).default([]),
  })
  .strict();

// TLS to the next hop, Postfix's smtp_tls_security_level: none, opportunistic
// (Postfix "may"), encrypt, verify. "required" is the old name of "encrypt",
// still accepted (relayguard check warns, src/config/deprecations.ts).
export const TLS_LEVELS = ['none', 'opportunistic', 'encrypt', 'verify'] as const;
export type TlsLevel = (typeof TLS_LEVELS)[number];
const tlsLevel = z.enum([...TLS_LEVELS, 'required']).transform((level): TlsLevel => (level === 'required' ? 'encrypt' : level));

const upstreamFields = z.object({
  hosts: z.array(hostPort(25)).min(1),
  // Unset: delivery.tls.
  tls: tlsLevel.optional(),
  // CA certificates (PEM) that level "verify" trusts for this next hop, instead of delivery.tls_ca_file / the built-in list.
  tls_ca_file: z.string().min(1).optional(),
  auth_user: z.string().optional(),
  auth_password: z.string().optional(),
  // This next hop delivers into mailboxes (no further SMTP relay): REQUIRETLS
  // messages may go to it at level verify even if it does not offer REQUIRETLS.
  last_hop: z.boolean().default(false),
});

const upstream = upstreamFields.strict();

const route = upstreamFields.extend({ domains: z.array(z.string().min(1)).min(1) }).strict();

/** An upstream (smarthost or route) whose unset tls took delivery.tls. */
type Resolved<T extends { tls?: TlsLevel }> = Omit<T, 'tls'> & { tls: TlsLevel };
const withLevel = <T extends { tls?: TlsLevel }>(u: T, level: TlsLevel): Resolved<T> => ({ ...u, tls: u.tls ?? level });

export const configSchema = z
  .object({
    hostname,
    // Where the domainless RCPT TO:<postmaster> goes (RFC 5321 4.5.1); default postmaster@ the first local domain.
    postmaster: z
      .string()
      .regex(/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+@(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i, 'postmaster must be a plain address, local@domain')
      .optional(),
    data_dir: z.string().default('./data'),
    policies_dir: z.string().default('./policies'),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
    log_format: z.enum(['auto', 'json', 'pretty']).default('auto'),
    // Started as root: bind, then run as this user and group (src/privileges.ts).
    service: z
      .object({ user: z.string().min(1).optional(), group: z.string().min(1).optional() })
      .strict()
      .refine((s) => s.group === undefined || s.user !== undefined, 'service.group needs service.user')
      .prefault({}),
    listeners: z.array(listener).min(1, 'at least one [[listeners]] is needed'),
    tls: z
      .object({ cert: z.string().optional(), key: z.string().optional() })
      .strict()
      .refine((t) => !t.cert === !t.key, 'tls.cert and tls.key go together')
      .default({}),
    smtp: z
      .object({
        max_message_size: size.default(25 * 1024 * 1024),
        max_recipients: z.number().int().positive().default(100),
        max_command_length: z.number().int().min(512).default(512),
        max_line_length: z.number().int().min(1000).default(1000),
        max_connections: z.number().int().positive().default(1000),
        idle_timeout: duration.default(300_000),
        transaction_timeout: duration.default(600_000),
        greet_delay: duration.default(0),
        forbid_unauth_pipelining: z.boolean().default(true),
        max_errors: z.number().int().positive().default(10),
        tarpit_after_errors: z.number().int().positive().default(3),
        tarpit_delay: duration.default(1000),
        bare_line_endings: z.enum(['reject', 'normalize']).default('reject'),
        shutdown_grace: duration.default(30_000),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        failures_before_delay: z.number().int().nonnegative().default(3),
        failure_delay: duration.default(2000),
        failures_before_lockout: z.number().int().positive().default(10),
        failure_window: duration.default(900_000),
        lockout: duration.default(900_000),
        // MAIL FROM:<> from an authenticated user: "granted" only with "*" or "<>" in the
        // user's senders (policy/rules/sender-ownership.ts); "any" lets every user use it (Postfix).
        null_sender: z.enum(['granted', 'any']).default('granted'),
      })
      .strict()
      .prefault({}),
    dns: z
      .object({
        servers: z.array(hostPort(53)).default([]),
        timeout: duration.default(2000),
        tries: z.number().int().min(1).max(5).default(2),
      })
      .strict()
      .prefault({}),
    delivery: z
      .object({
        mode: z.enum(['smarthost', 'mx']).default('mx'),
        smarthost: upstream.optional(),
        routes: z.array(route).default([]),
        mx_port: z.number().int().min(1).max(65535).default(25),
        retry_schedule: z.array(duration).min(1).default([60_000, 300_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000]),
        queue_lifetime: duration.default(5 * 86_400_000),
        // A held message (relayguard queue hold, or a rule at accept time) is kept this long,
        // then bounced to our own user (hold_expiry = "bounce") or deleted ("delete").
        hold_lifetime: duration.default(5 * 86_400_000),
        hold_expiry: z.enum(['bounce', 'delete']).default('bounce'),
        delay_warning: duration.default(0),
        concurrency: z.number().int().positive().default(20),
        per_destination_concurrency: z.number().int().positive().default(5),
        per_destination_rate: z.number().int().nonnegative().default(0),
        connect_timeout: duration.default(30_000),
        command_timeout: duration.default(300_000),
        tls_failure_memory: duration.default(3_600_000),
        // A block list named in remote refusals leaves the dashboard banner when no reply has named it for this long.
        listing_window: duration.default(24 * 3_600_000),
        // The TLS level of MX delivery, and of the smarthost and routes that set none.
        tls: tlsLevel.default('opportunistic'),
        // CA certificates (PEM) trusted at level "verify" instead of the built-in list (Postfix smtp_tls_CAfile).
        tls_ca_file: z.string().min(1).optional(),
        worker: z.boolean().default(true),
      })
      .strict()
      .refine((d) => d.listing_window >= 60_000, { message: 'must be at least 1m', path: ['listing_window'] })
      .refine((d) => d.mode !== 'smarthost' || d.smarthost !== undefined, {
        message: 'mode "smarthost" needs a [delivery.smarthost] table',
        path: ['mode'],
      })
      .transform((d) => ({
        ...d,
        smarthost: d.smarthost ? withLevel(d.smarthost, d.tls) : undefined,
        routes: d.routes.map((r) => withLevel(r, d.tls)),
      }))
      .prefault({}),
    // Our own outbound addresses looked up in the configured DNSBL zones (issue 19; src/facts/dnsbl/self-check.ts).
    // Runs while addresses is not empty; interval = "0" turns it off. Nothing guesses our public address.
    self_check: z
      .object({
        addresses: z.array(publicAddress).max(64, 'at most 64 addresses').default([]),
        interval: duration.default(30 * 60_000),
      })
      .strict()
      .refine((c) => c.interval === 0 || c.interval >= 60_000, { message: 'must be 0 (off) or at least 1m', path: ['interval'] })
      .prefault({}),
    // Live recipient verification against the next hop (issue 16; src/facts/recipient-probe).
    recipient_verification: z
      .object({
        enabled: z.boolean().default(false),
        // Local domains to verify; empty = every local domain routed to a route or the smarthost.
        domains: z.array(z.string().min(1)).default([]),
        // How long a client waits at RCPT for the probe before it gets 450 4.1.1.
        timeout: duration.default(8_000),
        positive_ttl: duration.default(31 * 86_400_000),
        positive_refresh: duration.default(7 * 86_400_000),
        negative_ttl: duration.default(3 * 86_400_000),
        negative_refresh: duration.default(3 * 3_600_000),
        cache_size: z.number().int().positive().default(100_000),
        connections_per_hop: z.number().int().positive().max(64).default(4),
        idle_timeout: duration.default(10_000),
        command_timeout: duration.default(30_000),
        // A 5xx from the backend after we accepted (issue 16 item 2): send the DSN?
        dsn_after_accept: z.enum(['checked_sender', 'always', 'never']).default('checked_sender'),
      })
      .strict()
      .refine((v) => v.positive_refresh <= v.positive_ttl, { message: 'positive_refresh must not be longer than positive_ttl', path: ['positive_refresh'] })
      .refine((v) => v.negative_refresh <= v.negative_ttl, { message: 'negative_refresh must not be longer than negative_ttl', path: ['negative_refresh'] })
      .prefault({}),
    http: z
      .object({
        address: hostPort().default({ host: '127.0.0.1', port: 8025 }),
        token: z.string().optional(),
        // How long a dashboard login lasts (fixed from login, not sliding).
        session_ttl: duration.default(12 * 3_600_000),
        enabled: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    // Postfix policy delegation (check_policy_service): src/policy-service. Off by default.
    policy_service: z
      .object({
        enabled: z.boolean().default(false),
        // 10040 is what postfwd and most policy daemons' examples use; loopback only by default.
        address: hostPort().default({ host: '127.0.0.1', port: 10040 }),
        // A Unix socket instead of TCP (check_policy_service unix:PATH); a chrooted smtpd needs it under its chroot.
        socket: z.string().min(1).optional(),
        socket_mode: z.string().regex(/^0?[0-7]{3}$/, 'socket_mode: an octal mode such as "0660"').default('0660'),
        request_timeout: duration.default(10_000),
        idle_timeout: duration.default(330_000),
        max_connections: z.number().int().positive().default(200),
        session_idle: duration.default(60_000),
        max_sessions: z.number().int().positive().default(10_000),
        ok_for_trusted: z.boolean().default(true),
        decision_header: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/, 'decision_header: a header name such as "X-Relayguard"').optional(),
        submission_ports: z.array(z.number().int().min(1).max(65535)).default([587, 465]),
      })
      .strict()
      .prefault({}),
    // A milter for an existing Postfix (smtpd_milters): src/milter. Off by default.
    milter: z
      .object({
        enabled: z.boolean().default(false),
        // 10041: next to the policy service's 10040; loopback only by default.
        address: hostPort().default({ host: '127.0.0.1', port: 10041 }),
        // A Unix socket instead of TCP (smtpd_milters = unix:PATH); a chrooted smtpd needs it under its chroot.
        socket: z.string().min(1).optional(),
        socket_mode: z.string().regex(/^0?[0-7]{3}$/, 'socket_mode: an octal mode such as "0660"').default('0660'),
        // Our answer to one packet, at most (below Postfix's milter_command_timeout, 30s): past it the connection is closed.
        command_timeout: duration.default(10_000),
        // A milter connection silent this long is closed (an SMTP session waits up to smtpd_timeout, 300s, per command).
        idle_timeout: duration.default(330_000),
        max_connections: z.number().int().positive().default(200),
        decision_header: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/, 'decision_header: a header name such as "X-Relayguard"').optional(),
        // Postfix's {daemon_port} (add it to milter_connect_macros) judged as a submission listener.
        submission_ports: z.array(z.number().int().min(1).max(65535)).default([587, 465]),
      })
      .strict()
      .prefault({}),
    // The decision journal (src/journal): every session's facts and decisions, for `relayguard replay`.
    journal: z
      .object({
        enabled: z.boolean().default(true),
        // Oldest segments are deleted past either bound. ~800 bytes a full session: 2 GB is ~2.6 million sessions.
        max_bytes: size.default(2 * 1024 * 1024 * 1024),
        max_age: duration.default(7 * 86_400_000),
        // One file of the journal; a new one starts past this size (or every hour).
        segment_bytes: size.default(32 * 1024 * 1024),
        // Records are written in batches at most this often (the journal is diagnostics: no fsync).
        flush_interval: duration.default(1000),
      })
      .strict()
      .refine((j) => j.segment_bytes > 0 && j.segment_bytes <= j.max_bytes, { message: 'journal.segment_bytes must be > 0 and <= journal.max_bytes', path: ['segment_bytes'] })
      .prefault({}),
    reload: z
      .object({
        // Replay the journal's recent sessions before a reload; refuse an edit that newly opens the relay.
        guard: z.boolean().default(true),
        guard_window: duration.default(24 * 3_600_000),
        // At most this many recent sessions are replayed by the guard (the newest first).
        guard_max_sessions: z.number().int().positive().default(100_000),
      })
      .strict()
      .prefault({}),
    // Account anomaly detection for authenticated users (issue 19 item 2; src/accounts).
    accounts: accountsSection,
    cluster: z
      .object({
        redis: z
          .string()
          .regex(/^(redis|rediss):\/\/[^\s]+$/, 'redis: write redis://host:port (rediss:// for TLS, optional user:password@ and /db)')
          .optional(),
        // Queue ids embed the name and allow at most 63 characters before the core (src/spool/queue-id.ts).
        instance: z.string().regex(/^[A-Za-z0-9-]+$/, 'instance: letters, digits and dashes').max(63).optional(),
        fail_open: z.boolean().default(true),
        command_timeout: duration.default(200),
        key_prefix: z.string().min(1).max(64).default('relayguard:'),
        shared_dnsbl_cache: z.boolean().default(true),
      })
      .strict()
      .refine((c) => c.redis === undefined || c.instance !== undefined, {
        message: 'cluster.instance is required with cluster.redis (it names this instance in queue ids, logs and the dashboard)',
        path: ['instance'],
      })
      .prefault({}),
  })
  .strict();

export type RawConfig = z.infer<typeof configSchema>;
export type ListenerConfig = RawConfig['listeners'][number];
export type UpstreamConfig = Resolved<z.infer<typeof upstream>>;
export type RouteConfig = Resolved<z.infer<typeof route>>;
export type RecipientVerificationConfig = RawConfig['recipient_verification'];
export type AccountsConfig = RawConfig['accounts'];

/** The validated config with paths made absolute (relative to the config file). */
export interface Config extends RawConfig {
  readonly configFile: string;
  readonly dataDir: string;
  readonly policiesDir: string;
}

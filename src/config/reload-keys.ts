// What a reload does with each key of config.toml: 'reload' keys take effect
// for what starts after the swap (new connections, next delivery attempt,
// the log level at once); 'restart' keys are read once at start (sockets,
// TLS files, the spool, the dashboard, the resolver, the cluster link), so a
// reload that changes one reports it by name ("needs a restart") instead of
// pretending. test/config/reload-keys.test.ts walks the schema and fails
// when a key is missing here.
import type { Config } from './schema.ts';

export type ReloadEffect = 'reload' | 'restart';

/** Key path (TOML form; `[]` stands for any array index) → what a reload does with it. */
export const RELOAD_KEYS: Readonly<Record<string, ReloadEffect>> = {
  hostname: 'restart',
  data_dir: 'restart',
  policies_dir: 'reload',
  log_level: 'reload',
  // Read from the snapshot at every bare <postmaster> (policy/engine.ts).
  postmaster: 'reload',
  log_format: 'restart',
  // The process switches users once, at start.
  'service.user': 'restart',
  'service.group': 'restart',
  'listeners[].name': 'restart',
  'listeners[].address': 'restart',
  'listeners[].role': 'restart',
  'listeners[].tls': 'restart',
  'listeners[].auth': 'restart',
  'listeners[].proxy_protocol_from': 'restart',
  'tls.cert': 'restart',
  'tls.key': 'restart',
  'smtp.max_message_size': 'restart',
  'smtp.max_recipients': 'reload',
  'smtp.max_command_length': 'restart',
  'smtp.max_line_length': 'restart',
  'smtp.max_connections': 'restart',
  'smtp.idle_timeout': 'restart',
  'smtp.transaction_timeout': 'restart',
  'smtp.greet_delay': 'restart',
  'smtp.forbid_unauth_pipelining': 'restart',
  'smtp.max_errors': 'restart',
  'smtp.tarpit_after_errors': 'restart',
  'smtp.tarpit_delay': 'restart',
  'smtp.bare_line_endings': 'reload',
  'smtp.shutdown_grace': 'restart',
  'auth.failures_before_delay': 'reload',
  'auth.failure_delay': 'reload',
  'auth.failures_before_lockout': 'reload',
  'auth.failure_window': 'reload',
  'auth.lockout': 'reload',
  // Read from the connection's snapshot at every MAIL FROM.
  'auth.null_sender': 'reload',
  'dns.servers': 'restart',
  'dns.timeout': 'restart',
  'dns.tries': 'restart',
  'delivery.mode': 'reload',
  'delivery.smarthost.hosts': 'reload',
  'delivery.smarthost.tls': 'reload',
  // CA files are read again by the next delivery attempt after a reload (delivery/tls-trust.ts).
  'delivery.smarthost.tls_ca_file': 'reload',
  'delivery.smarthost.last_hop': 'reload',
  'delivery.smarthost.auth_user': 'reload',
  'delivery.smarthost.auth_password': 'reload',
  'delivery.routes[].hosts': 'reload',
  'delivery.routes[].tls': 'reload',
  'delivery.routes[].tls_ca_file': 'reload',
  'delivery.routes[].last_hop': 'reload',
  'delivery.routes[].auth_user': 'reload',
  'delivery.routes[].auth_password': 'reload',
  'delivery.routes[].domains': 'reload',
  'delivery.mx_port': 'reload',
  'delivery.retry_schedule': 'reload',
  'delivery.queue_lifetime': 'reload',
  // For holds made after the reload (a hold's expiry is fixed when it is made).
  'delivery.hold_lifetime': 'reload',
  // Read when a hold expires.
  'delivery.hold_expiry': 'reload',
  'delivery.delay_warning': 'reload',
  'delivery.concurrency': 'reload',
  'delivery.per_destination_concurrency': 'reload',
  'delivery.per_destination_rate': 'reload',
  'delivery.connect_timeout': 'reload',
  'delivery.command_timeout': 'reload',
  'delivery.tls_failure_memory': 'reload',
  'delivery.listing_window': 'reload',
  'delivery.tls': 'reload',
  'delivery.tls_ca_file': 'reload',
  'delivery.worker': 'restart',
  // Read at every self-check run; a change reschedules it (src/facts/dnsbl/self-check.ts).
  'self_check.addresses': 'reload',
  'self_check.interval': 'reload',
  // Read from the snapshot at every RCPT and every delivery outcome (src/facts/recipient-probe).
  'recipient_verification.enabled': 'reload',
  'recipient_verification.domains': 'reload',
  'recipient_verification.timeout': 'reload',
  'recipient_verification.positive_ttl': 'reload',
  'recipient_verification.positive_refresh': 'reload',
  'recipient_verification.negative_ttl': 'reload',
  'recipient_verification.negative_refresh': 'reload',
  'recipient_verification.connections_per_hop': 'reload',
  'recipient_verification.idle_timeout': 'reload',
  'recipient_verification.command_timeout': 'reload',
  'recipient_verification.dsn_after_accept': 'reload',
  // The answer cache is sized once, at start.
  'recipient_verification.cache_size': 'restart',
  'http.address': 'restart',
  'http.token': 'restart',
  'http.enabled': 'restart',
  // The login's lifetime is fixed when the dashboard starts.
  'http.session_ttl': 'restart',
  // The policy service reads its section once, at start (src/policy-service).
  'policy_service.enabled': 'restart',
  'policy_service.address': 'restart',
  'policy_service.socket': 'restart',
  'policy_service.socket_mode': 'restart',
  'policy_service.request_timeout': 'restart',
  'policy_service.idle_timeout': 'restart',
  'policy_service.max_connections': 'restart',
  'policy_service.session_idle': 'restart',
  'policy_service.max_sessions': 'restart',
  'policy_service.ok_for_trusted': 'restart',
  'policy_service.decision_header': 'restart',
  'policy_service.submission_ports': 'restart',
  'milter.enabled': 'restart',
  'milter.address': 'restart',
  'milter.socket': 'restart',
  'milter.socket_mode': 'restart',
  'milter.command_timeout': 'restart',
  'milter.idle_timeout': 'restart',
  'milter.max_connections': 'restart',
  'milter.decision_header': 'restart',
  'milter.submission_ports': 'restart',
  // The journal writer is opened once, at start.
  'journal.enabled': 'restart',
  'journal.max_bytes': 'restart',
  'journal.max_age': 'restart',
  'journal.segment_bytes': 'restart',
  'journal.flush_interval': 'restart',
  // Read from the candidate config at each reload (src/journal/reload-guard.ts).
  'reload.guard': 'reload',
  'reload.guard_window': 'reload',
  'reload.guard_max_sessions': 'reload',
  // [accounts]: the detector is built at start and reads its thresholds from the snapshot at each event.
  'accounts.enabled': 'restart',
  'accounts.state_file': 'restart',
  'accounts.baseline_half_life': 'reload',
  'accounts.volume.factor': 'reload',
  'accounts.volume.floor': 'reload',
  'accounts.volume.window': 'reload',
  'accounts.volume.action': 'reload',
  'accounts.recipient_domains.factor': 'reload',
  'accounts.recipient_domains.floor': 'reload',
  'accounts.recipient_domains.window': 'reload',
  'accounts.recipient_domains.action': 'reload',
  'accounts.login_networks.floor': 'reload',
  'accounts.login_networks.window': 'reload',
  'accounts.login_networks.action': 'reload',
  'accounts.remote_refusals.floor': 'reload',
  'accounts.remote_refusals.share': 'reload',
  'accounts.remote_refusals.window': 'reload',
  'accounts.remote_refusals.action': 'reload',
  'accounts.new_sender.action': 'reload',
  'cluster.redis': 'restart',
  'cluster.instance': 'restart',
  'cluster.fail_open': 'restart',
  'cluster.command_timeout': 'restart',
  'cluster.key_prefix': 'restart',
  'cluster.shared_dnsbl_cache': 'restart',
};

/** The keys a reload cannot apply, in table order (for `check` and the help text). */
export function restartOnlyKeys(): string[] {
  return Object.entries(RELOAD_KEYS)
    .filter(([, effect]) => effect === 'restart')
    .map(([key]) => key);
}

const CONFIG_KEYS = new Set(['configFile', 'dataDir', 'policiesDir']);

/** `listeners[0].address` → `listeners[].address`. */
export function tableKeyOf(concretePath: string): string {
  return concretePath.replace(/\[\d+\]/g, '[]');
}

/**
 * Every change from `previous` to `next` that a reload cannot apply, as
 * "listeners[0].address changed: needs a restart" (one line per key path).
 * A key missing from the table counts as restart-only: never claim a reload.
 */
export function restartNeeded(previous: Config, next: Config): string[] {
  const changed: string[] = [];
  const walk = (a: unknown, b: unknown, at: string): void => {
    if (at !== '') {
      const effect = RELOAD_KEYS[tableKeyOf(at)];
      if (effect !== undefined) {
        if (effect === 'restart' && !sameValue(a, b)) changed.push(`${at} changed: needs a restart`);
        return;
      }
    }
    if (Array.isArray(a) || Array.isArray(b)) {
      const left = Array.isArray(a) ? a : [];
      const right = Array.isArray(b) ? b : [];
      if (left.length !== right.length && tableKeyOf(at) === 'listeners') {
        changed.push(`${at} changed (${left.length} → ${right.length}): needs a restart`);
      }
      for (let i = 0; i < Math.min(left.length, right.length); i++) walk(left[i], right[i], `${at}[${i}]`);
      return;
    }
    if (isObject(a) || isObject(b)) {
      const left = isObject(a) ? a : {};
      const right = isObject(b) ? b : {};
      for (const key of new Set([...Object.keys(left), ...Object.keys(right)])) {
        if (at === '' && CONFIG_KEYS.has(key)) continue;
        walk(left[key], right[key], at === '' ? key : `${at}.${key}`);
      }
      return;
    }
    if (!sameValue(a, b)) changed.push(`${at} changed: needs a restart`);
  };
  walk(previous, next, '');
  return changed;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

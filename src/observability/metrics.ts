// The Prometheus registry: the numbers of the dashboard in text format.
// Decision and delivery counters are fed by the DecisionLog and DeliveryLog;
// gauges (queue, DNSBL zones, cache, reload, readiness) are read from the
// dashboard sources at scrape time. Each call builds its own Registry (never
// prom-client's global one), so tests and several instances stay isolated.
// A scrape reads each source once (single flight across the metrics that need
// it); a failing source leaves its metrics empty instead of failing /metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Decision } from '../policy/decision.ts';
import type { DecisionLog } from './decision-log.ts';
import type { DeliveryLog } from './delivery-log.ts';
import type { ClusterStatus, DashboardSources, VerificationStats } from './sources.ts';

export interface MetricsOptions {
  readonly sources: DashboardSources;
  readonly decisions: DecisionLog;
  readonly deliveries?: DeliveryLog;
  /** Node process metrics (CPU, memory, event loop), prefixed relayguard_. Default true. */
  readonly processMetrics?: boolean;
  /** The clock for ages (oldest message); default Date.now. */
  readonly now?: () => number;
  /** How many per-domain deferral series to export (the busiest); default 20. */
  readonly maxDomains?: number;
}

export interface Metrics {
  readonly registry: Registry;
  readonly contentType: string;
  /** The exposition text for GET /metrics. */
  render(): Promise<string>;
  /** Counts state-changing dashboard requests (src/http/actions.ts) and the messages they acted on. */
  readonly dashboardActions: {
    request(action: string, result: 'done' | 'refused'): void;
    messages(action: string, outcome: 'ok' | 'failed', count: number): void;
  };
  /** Unsubscribes from the logs. */
  close(): void;
}

/** One (source, stage, verdict, rule, reason) seen in Decisions, and how many of them since the last scrape. */
interface DecisionSeries {
  readonly source: string;
  readonly decision: Pick<Decision, 'stage' | 'verdict' | 'rule' | 'reason'>;
  pending: number;
}

/** The Map at `key` of a nested index, made on first use. */
function level<V>(map: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let next = map.get(key);
  if (next === undefined) {
    next = new Map();
    map.set(key, next);
  }
  return next;
}

/**
 * The Decisions published since the last scrape, counted by their labels; the decision counters are
 * incremented from here when a scrape reads any of them. Hot path (five Decisions per message): prom-client's
 * inc() builds a labels object and a string of all its labels at every call, three calls per Decision (~3 KB
 * of strings per message); here a Decision is one lookup per label value. The exposition is the same: every
 * series with the same value, and a new series appearing in the order it was first counted.
 */
class DecisionCounts {
  readonly #index = new Map<string, Map<string, Map<string, Map<string, Map<string, DecisionSeries>>>>>();
  /** Every series counted so far, in the order each was first counted. */
  readonly #series: DecisionSeries[] = [];

  count(source: string, decision: Decision): void {
    const byReason = level(level(level(level(this.#index, source), decision.stage), decision.verdict), decision.rule);
    let series = byReason.get(decision.reason);
    if (series === undefined) {
      series = { source, decision: { stage: decision.stage, verdict: decision.verdict, rule: decision.rule, reason: decision.reason }, pending: 0 };
      byReason.set(decision.reason, series);
      this.#series.push(series);
    }
    series.pending++;
  }

  /** Hands each series counted since the last call to `add` (first counted first) and starts again from 0. */
  drain(add: (series: DecisionSeries) => void): void {
    for (const series of this.#series) {
      if (series.pending === 0) continue;
      add(series);
      series.pending = 0;
    }
  }
}

/** Shares one in-flight call among concurrent callers; the next call after it settles reads afresh. */
function singleFlight<T>(read: () => T | Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= Promise.resolve()
      .then(read)
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };
}

/**
 * What a metric shows when its source fails: an unlabelled gauge shows NaN
 * (unknown; 0 would be a lie, and comparisons with NaN never fire an alert),
 * a labelled gauge drops its series, and a counter copied from another
 * module keeps its last value (dropping to 0 would read as a counter reset).
 */
type OnFailure = 'nan' | 'drop' | 'keep';

async function fillFrom<T>(
  metric: { reset(): void; set?(value: number): void },
  read: () => Promise<T>,
  onFailure: OnFailure,
  fill: (value: T) => void,
): Promise<void> {
  let value: T;
  try {
    value = await read();
  } catch {
    if (onFailure === 'drop') metric.reset();
    if (onFailure === 'nan') metric.set?.(Number.NaN);
    return;
  }
  metric.reset();
  fill(value);
}

export function createMetrics(options: MetricsOptions): Metrics {
  const { sources } = options;
  const registry = new Registry();
  const registers = [registry];
  const maxDomains = options.maxDomains ?? 20;
  const now = options.now ?? Date.now;
  const queue = singleFlight(() => sources.queue());
  const zones = singleFlight(() => sources.dnsbl());
  const cache = singleFlight(() => sources.cache());
  const reload = singleFlight(() => sources.lastReload());
  const ready = singleFlight(() => sources.ready());
  const cluster = singleFlight(async () => (sources.cluster ? await sources.cluster() : { shared: false }));
  const smtp = singleFlight(async () => (sources.smtp ? await sources.smtp() : undefined));
  const verification = singleFlight(async () => (sources.verification ? await sources.verification() : undefined));
  const selfCheck = singleFlight(async () => (sources.selfCheck ? await sources.selfCheck() : undefined));

  // The counters fed by Decisions take them from `counted` when a scrape reads any of them (see DecisionCounts).
  const counted = new DecisionCounts();
  const collect = (): void => takeCounted();
  const decisions = new Counter({
    name: 'relayguard_decisions_total', help: 'Policy decisions by stage, verdict, rule and reason.',
    labelNames: ['stage', 'verdict', 'rule', 'reason'] as const, registers, collect,
  });
  // The same decisions by who asked (the SMTP front door, or a Postfix through the policy service).
  const bySource = new Counter({
    name: 'relayguard_decisions_by_source_total', help: 'Policy decisions by who asked: smtp (the front door), policy_service (a Postfix policy request) or milter (a milter callback).',
    labelNames: ['source', 'verdict'] as const, registers, collect,
  });
  // Delivery outcomes since the last scrape, by result (one per recipient): counted here, handed over at scrape time as the Decisions are.
  const outcomes = new Map<string, number>();
  const deliveries = new Counter({
    name: 'relayguard_delivery_total', help: 'Delivery outcomes per recipient (delivered, deferred, bounced).',
    labelNames: ['result'] as const, registers,
    collect() {
      for (const [result, n] of outcomes) this.inc({ result }, n);
      outcomes.clear();
    },
  });
  for (const result of ['delivered', 'deferred', 'bounced']) deliveries.inc({ result }, 0);
  const attemptSeconds = new Histogram({
    name: 'relayguard_delivery_attempt_duration_seconds',
    help: 'How long one delivery attempt took (connect to the last reply, all its recipients), by whether every recipient was delivered.',
    labelNames: ['result'] as const, buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300], registers,
  });
  for (const result of ['delivered', 'failed']) attemptSeconds.zero({ result });

  // The numbers an operator looks for first, derived from the same decisions
  // (one more increment per event, no new work on the SMTP path).
  const accepted = new Counter({
    name: 'relayguard_messages_accepted_total', help: 'Messages accepted and queued (250 after DATA).', registers, collect,
  });
  const refusals = new Counter({
    name: 'relayguard_refusals_total', help: 'Refusals (reject or defer) by stage and reason code.',
    labelNames: ['stage', 'verdict', 'reason'] as const, registers, collect,
  });
  const auth = new Counter({
    name: 'relayguard_auth_total', help: 'AUTH attempts by result (success, failure, lockout: refused because the client or account is locked out).',
    labelNames: ['result'] as const, registers, collect,
  });
  function takeCounted(): void {
    counted.drain(({ source, decision, pending }) => {
      bySource.inc({ source, verdict: decision.verdict }, pending);
      decisions.inc({ stage: decision.stage, verdict: decision.verdict, rule: decision.rule, reason: decision.reason }, pending);
      if (decision.verdict === 'reject' || decision.verdict === 'defer') refusals.inc({ stage: decision.stage, verdict: decision.verdict, reason: decision.reason }, pending);
      if (decision.reason === 'data.queued') accepted.inc(pending);
      else if (decision.reason === 'auth.ok') auth.inc({ result: 'success' }, pending);
      else if (decision.reason === 'auth.failed') auth.inc({ result: 'failure' }, pending);
      else if (decision.reason === 'auth.locked') auth.inc({ result: 'lockout' }, pending);
    });
  }
  for (const result of ['success', 'failure', 'lockout']) auth.inc({ result }, 0);

  // SMTP running totals live in the front door; at scrape time they are copied here.
  const smtpCounter = (name: string, help: string, fill: (c: Counter<string>, t: NonNullable<Awaited<ReturnType<typeof smtp>>>) => void, labelNames: readonly string[] = []) =>
    new Counter({
      name, help, labelNames, registers,
      async collect() { await fillFrom(this, smtp, 'keep', (t) => { if (t) fill(this, t); }); },
    });
  smtpCounter('relayguard_connections_opened_total', 'SMTP connections accepted by the listeners (before any policy).', (c, t) => c.inc(t.connectionsOpened));
  smtpCounter('relayguard_connections_refused_total', 'SMTP connections refused at connect (policy reject/defer, or shutting down).', (c, t) => c.inc(t.connectionsRefused));
  smtpCounter('relayguard_connections_closed_total', 'Closed SMTP connections by whether they had TLS (implicit or STARTTLS) at the end: the TLS share.',
    (c, t) => { c.inc({ tls: 'yes' }, t.closedWithTls); c.inc({ tls: 'no' }, t.closedWithoutTls); }, ['tls']);
  smtpCounter('relayguard_received_bytes_total', 'DATA bytes received from clients (queued or refused).', (c, t) => c.inc(t.bytesReceived));

  // The policy service's running totals, the same way (only when it is on).
  if (sources.policyService) {
    const policy = singleFlight(async () => (sources.policyService ? await sources.policyService() : undefined));
    const policyCounter = (name: string, help: string, fill: (c: Counter<string>, t: NonNullable<Awaited<ReturnType<typeof policy>>>) => void, labelNames: readonly string[] = []) =>
      new Counter({
        name, help, labelNames, registers,
        async collect() { await fillFrom(this, policy, 'keep', (t) => { if (t) fill(this, t); }); },
      });
    policyCounter('relayguard_policy_service_answers_total', 'Postfix policy service answers by action (dunno, ok, reject, defer, defer_if_permit, prepend).',
      (c, t) => { for (const [action, n] of Object.entries(t.answers)) c.inc({ action }, n); }, ['action']);
    policyCounter('relayguard_policy_service_bad_input_total', 'Policy connections closed for not speaking the protocol (garbage, NUL, over-long lines).', (c, t) => c.inc(t.badInput));
    policyCounter('relayguard_policy_service_timeouts_total', 'Policy requests answered DEFER_IF_PERMIT for running past request_timeout.', (c, t) => c.inc(t.timeouts));
  }
  // The milter's running totals, the same way (only when it is on).
  if (sources.milter) {
    const milter = singleFlight(async () => (sources.milter ? await sources.milter() : undefined));
    const milterCounter = (name: string, help: string, fill: (c: Counter<string>, t: NonNullable<Awaited<ReturnType<typeof milter>>>) => void, labelNames: readonly string[] = []) =>
      new Counter({
        name, help, labelNames, registers,
        async collect() { await fillFrom(this, milter, 'keep', (t) => { if (t) fill(this, t); }); },
      });
    milterCounter('relayguard_milter_replies_total', 'Milter replies by kind (continue, accept, reject, tempfail, addheader).',
      (c, t) => { for (const [reply, n] of Object.entries(t.replies)) c.inc({ reply }, n); }, ['reply']);
    milterCounter('relayguard_milter_bad_input_total', 'Milter connections closed for not speaking the protocol (garbage, oversized or malformed packets).', (c, t) => c.inc(t.badInput));
    milterCounter('relayguard_milter_timeouts_total', 'Milter connections closed for time: a packet not finished, or not answered, within command_timeout.', (c, t) => c.inc(t.timeouts));
  }
  // Live recipient verification and the backscatter guard (issue 16), copied at scrape time.
  const verificationCounter = (name: string, help: string, fill: (c: Counter<string>, v: VerificationStats) => void, labelNames: readonly string[] = []) =>
    new Counter({
      name, help, labelNames, registers,
      async collect() { await fillFrom(this, verification, 'keep', (v) => { if (v) fill(this, v); }); },
    });
  verificationCounter('relayguard_recipient_probes_total', 'Recipient verification probes sent to the next hop, by its answer (accepted 2xx, refused 5xx, temporary 4xx/unreachable).',
    (c, v) => { c.inc({ result: 'accepted' }, v.accepted); c.inc({ result: 'refused' }, v.refused); c.inc({ result: 'temporary' }, v.temporary); }, ['result']);
  verificationCounter('relayguard_recipient_verification_cache_hits_total', 'RCPTs answered from the verification cache (no probe).', (c, v) => c.inc(v.cacheHits));
  verificationCounter('relayguard_recipient_verification_shared_total', 'RCPTs that joined a probe already in flight for the same address.', (c, v) => c.inc(v.shared));
  verificationCounter('relayguard_recipient_verification_timeouts_total', 'RCPTs told 450 4.1.1 because the next hop did not answer within the time budget.', (c, v) => c.inc(v.timedOut));
  verificationCounter('relayguard_backend_refused_after_accept_total', 'Recipients the backend refused (5xx) after we had verified and accepted them from an untrusted client.', (c, v) => c.inc(v.refusedAfterAccept));
  verificationCounter('relayguard_dsn_suppressed_total', 'Failed recipients that got no DSN (recipient_verification.dsn_after_accept, or a local sender that does not exist).', (c, v) => c.inc(v.dsnSuppressed));
  new Gauge({
    name: 'relayguard_recipient_verification_cached_answers', help: 'Answers in the recipient verification cache.', registers,
    async collect() { await fillFrom(this, verification, 'drop', (v) => { if (v) this.set(v.cached); }); },
  });

  new Gauge({
    name: 'relayguard_info', help: 'Always 1; labels name the instance and version.', labelNames: ['instance', 'version'] as const, registers,
  }).set({ instance: sources.instance, version: sources.version }, 1);
  new Gauge({ name: 'relayguard_start_time_seconds', help: 'When the process started (Unix time).', registers })
    .set(sources.startedAt / 1000);

  new Gauge({
    name: 'relayguard_ready', help: 'Readiness checks behind /healthz (1 ok, 0 failing).', labelNames: ['check'] as const, registers,
    async collect() {
      // Like /healthz: a readiness source that fails means not ready.
      const r = await ready().catch(() => ({ listeners: false, spoolWritable: false }));
      this.set({ check: 'listeners' }, r.listeners ? 1 : 0);
      this.set({ check: 'spool_writable' }, r.spoolWritable ? 1 : 0);
    },
  });

  const reads = { queue, dnsbl: zones, cache, reload, ready, cluster };
  new Gauge({
    name: 'relayguard_source_up', help: 'Whether the dashboard could read each internal source at this scrape (1) or not (0).',
    labelNames: ['source'] as const, registers,
    async collect() {
      const names = Object.keys(reads) as Array<keyof typeof reads>;
      const results = await Promise.allSettled(names.map((name) => reads[name]()));
      names.forEach((name, i) => this.set({ source: name }, results[i]?.status === 'fulfilled' ? 1 : 0));
    },
  });

  new Gauge({
    name: 'relayguard_queue_messages', help: 'Messages in the spool.', registers,
    async collect() { await fillFrom(this, queue, 'nan', (q) => this.set(q.size)); },
  });
  new Gauge({
    name: 'relayguard_queue_held_messages', help: 'Held messages in the spool (counted in relayguard_queue_messages too); never delivered until released.', registers,
    async collect() { await fillFrom(this, queue, 'nan', (q) => this.set(q.held ?? Number.NaN)); },
  });
  new Counter({
    name: 'relayguard_delivery_refusals_total', help: 'Recipients refused or deferred by remote servers since start, by class (blocklist, rate_limit, reputation, reverse_dns, greylist, relay_denied, recipient_unknown, mailbox_full, too_large, content, policy, tls_required, other).',
    labelNames: ['class'] as const, registers,
    async collect() { await fillFrom(this, queue, 'keep', (q) => { for (const c of q.refusals?.byClass ?? []) this.inc({ class: c.class }, c.count); }); },
  });
  new Gauge({
    name: 'relayguard_delivery_refusals_by_domain', help: 'Remote refusals since start per destination domain and class (the 20 biggest).',
    labelNames: ['domain', 'class'] as const, registers,
    async collect() { await fillFrom(this, queue, 'drop', (q) => { for (const d of q.refusals?.byDomain ?? []) this.set({ domain: d.domain, class: d.class }, d.count); }); },
  });
  new Gauge({
    name: 'relayguard_delivery_listed', help: 'Remote replies within delivery.listing_window that name a block list, rate limit, reputation verdict or missing reverse DNS about our address, per list; value = replies, see /api/status for domains.',
    labelNames: ['list', 'class'] as const, registers,
    async collect() { await fillFrom(this, queue, 'drop', (q) => { for (const l of q.refusals?.listings ?? []) this.set({ list: l.list, class: l.class }, l.replies); }); },
  });
  // The self-check's definite answers only: an unknown (timeout, SERVFAIL) has no series, never a 1.
  new Gauge({
    name: 'relayguard_self_listed', help: 'DNSBL self-check of our outbound addresses ([self_check]): 1 listed, 0 not listed, per zone and address; no series while the answer is unknown.',
    labelNames: ['zone', 'address'] as const, registers,
    async collect() {
      await fillFrom(this, selfCheck, 'drop', (c) => {
        for (const r of c?.results ?? []) if (r.state !== 'unknown') this.set({ zone: r.zone, address: r.address }, r.state === 'listed' ? 1 : 0);
      });
    },
  });
  new Gauge({
    name: 'relayguard_self_check_unknown', help: 'DNSBL self-check lookups without a definite answer (timeout, SERVFAIL, suspended zone) at the last run.', registers,
    async collect() { await fillFrom(this, selfCheck, 'nan', (c) => this.set(c?.enabled ? c.results.filter((r) => r.state === 'unknown').length : 0)); },
  });
  new Gauge({
    name: 'relayguard_self_check_last_run_timestamp_seconds', help: 'When the DNSBL self-check last finished a run (Unix time); NaN before the first.', registers,
    async collect() { await fillFrom(this, selfCheck, 'nan', (c) => this.set(c?.lastRunAt ? c.lastRunAt / 1000 : Number.NaN)); },
  });
  if (sources.accounts) {
    // Account anomaly detection (issue 19 item 2; src/accounts).
    const accounts = singleFlight(async () => (sources.accounts ? await sources.accounts() : undefined));
    const read = async () => {
      const a = await accounts();
      if (!a) throw new Error('no accounts source');
      return a;
    };
    new Counter({
      name: 'relayguard_account_triggers_total', help: 'Account anomaly triggers fired since start, by trigger (volume, recipient_domains, login_networks, remote_refusals, new_sender) and action (log, hold, lock).',
      labelNames: ['trigger', 'action'] as const, registers,
      async collect() { await fillFrom(this, read, 'keep', (a) => { for (const t of a.triggers) this.inc({ trigger: t.trigger, action: t.action }, t.count); }); },
    });
    new Gauge({
      name: 'relayguard_accounts_suspect', help: 'Suspect accounts now, by state (locked, held, logged); see /api/status accounts for the evidence.',
      labelNames: ['state'] as const, registers,
      async collect() { await fillFrom(this, read, 'drop', (a) => { for (const [state, n] of Object.entries(a.byState)) this.set({ state }, n); }); },
    });
    new Counter({
      name: 'relayguard_account_held_messages_total', help: 'Messages of suspect accounts accepted and stored held since start.', registers,
      async collect() { await fillFrom(this, read, 'keep', (a) => this.inc(a.heldMessages)); },
    });
    new Counter({
      name: 'relayguard_account_locked_logins_total', help: 'AUTH attempts with the right password refused (535) because the account is locked, since start.', registers,
      async collect() { await fillFrom(this, read, 'keep', (a) => this.inc(a.lockedLogins)); },
    });
  }
  new Gauge({
    name: 'relayguard_spool_quarantined_entries', help: 'Corrupt spool entries kept in data_dir/quarantine (relayguard queue list --quarantined); never deleted by relayguard.', registers,
    async collect() { await fillFrom(this, queue, 'nan', (q) => this.set(q.quarantine?.count ?? Number.NaN)); },
  });
  new Gauge({
    name: 'relayguard_queue_oldest_age_seconds', help: 'Age of the oldest message in the spool (0 when empty).', registers,
    async collect() {
      await fillFrom(this, queue, 'nan', (q) => this.set(q.oldestReceivedAt === null ? 0 : Math.max(0, (now() - q.oldestReceivedAt) / 1000)));
    },
  });
  new Gauge({
    name: 'relayguard_queue_deferred_messages', help: `Messages waiting for a retry, per recipient domain (the ${maxDomains} busiest).`,
    labelNames: ['domain'] as const, registers,
    async collect() {
      await fillFrom(this, queue, 'drop', (q) => {
        const busiest = [...q.deferredByDomain].sort((a, b) => b.count - a.count).slice(0, maxDomains);
        for (const d of busiest) this.set({ domain: d.domain }, d.count);
      });
    },
  });

  // Zone counters live in the DNSBL engine; at scrape time they are copied here.
  const zoneCounter = (name: string, help: string, pick: (z: Awaited<ReturnType<typeof zones>>[number]) => number) =>
    new Counter({
      name, help, labelNames: ['zone'] as const, registers,
      async collect() { await fillFrom(this, zones, 'keep', (list) => { for (const z of list) this.inc({ zone: z.zone }, pick(z)); }); },
    });
  zoneCounter('relayguard_dnsbl_queries_total', 'DNSBL lookups sent per zone (cache hits excluded).', (z) => z.queries);
  zoneCounter('relayguard_dnsbl_listed_total', 'DNSBL answers that listed the client, per zone.', (z) => z.listed);
  zoneCounter('relayguard_dnsbl_errors_total', 'DNSBL error answers per zone (127.255.255.x, SERVFAIL...).', (z) => z.errors);
  zoneCounter('relayguard_dnsbl_timeouts_total', 'DNSBL lookups that timed out, per zone.', (z) => z.timeouts);
  new Gauge({
    name: 'relayguard_dnsbl_latency_mean_seconds', help: 'Mean DNSBL lookup latency per zone.', labelNames: ['zone'] as const, registers,
    async collect() {
      await fillFrom(this, zones, 'drop', (list) => { for (const z of list) if (z.meanLatencyMs !== null) this.set({ zone: z.zone }, z.meanLatencyMs / 1000); });
    },
  });
  new Gauge({
    name: 'relayguard_dnsbl_zone_suspended', help: '1 while the engine skips a zone after repeated errors.', labelNames: ['zone'] as const, registers,
    async collect() { await fillFrom(this, zones, 'drop', (list) => { for (const z of list) this.set({ zone: z.zone }, z.suspended ? 1 : 0); }); },
  });

  new Counter({
    name: 'relayguard_dnsbl_cache_hits_total', help: 'DNSBL answers served from the cache.', registers,
    async collect() { await fillFrom(this, cache, 'keep', (c) => this.inc(c.hits)); },
  });
  new Counter({
    name: 'relayguard_dnsbl_cache_misses_total', help: 'DNSBL lookups the cache could not answer.', registers,
    async collect() { await fillFrom(this, cache, 'keep', (c) => this.inc(c.misses)); },
  });
  new Gauge({
    name: 'relayguard_dnsbl_cache_hit_ratio', help: 'hits / (hits + misses) since start (0 before any lookup).', registers,
    async collect() { await fillFrom(this, cache, 'nan', (c) => this.set(c.hits + c.misses === 0 ? 0 : c.hits / (c.hits + c.misses))); },
  });

  new Gauge({
    name: 'relayguard_policy_reload_success', help: '1 if the last load or reload of the policy succeeded.', registers,
    async collect() { await fillFrom(this, reload, 'nan', (r) => this.set(r.ok ? 1 : 0)); },
  });
  new Gauge({
    name: 'relayguard_policy_reload_timestamp_seconds', help: 'When the policy was last loaded or a reload attempted (Unix time).', registers,
    async collect() { await fillFrom(this, reload, 'nan', (r) => this.set(r.at / 1000)); },
  });
  new Gauge({
    name: 'relayguard_policy_generation', help: 'Generation of the policy snapshot in use.', registers,
    async collect() { await fillFrom(this, reload, 'nan', (r) => this.set(r.generation)); },
  });

  // Shared state (config [cluster]), labelled with the Redis address (no
  // password): no series at all for a single instance, so no false alert.
  new Gauge({
    name: 'relayguard_redis_up', help: 'Whether this instance can use the shared Redis now (1) or counts on its own / fails closed (0).',
    labelNames: ['redis'] as const, registers,
    async collect() {
      await fillFrom(this, cluster, 'drop', (c) => { if (c.redis) this.set({ redis: c.redis.address }, c.redis.up ? 1 : 0); });
    },
  });
  const redisCounter = (name: string, help: string, pick: (redis: NonNullable<ClusterStatus['redis']>) => number) =>
    new Counter({
      name, help, labelNames: ['redis'] as const, registers,
      async collect() { await fillFrom(this, cluster, 'keep', (c) => { if (c.redis) this.inc({ redis: c.redis.address }, pick(c.redis)); }); },
    });
  redisCounter('relayguard_redis_outages_total', 'Redis outages since start (each logged once).', (r) => r.outages);
  redisCounter('relayguard_redis_failed_operations_total', 'Redis operations that failed (timeout, connection, error reply).', (r) => r.failedOperations);
  redisCounter('relayguard_redis_skipped_operations_total', 'Redis operations not tried because Redis was down (served by the fallback or refused).', (r) => r.skippedOperations);

  if (options.processMetrics ?? true) {
    // Standard names (process_*, nodejs_*) so stock Node.js dashboards work;
    // the relayguard_-prefixed copies stay for dashboards built on them.
    collectDefaultMetrics({ register: registry });
    collectDefaultMetrics({ register: registry, prefix: 'relayguard_' });
  }

  const offDecisions = options.decisions.subscribe(({ decision, source }) => {
    counted.count(source === 'policy service' ? 'policy_service' : source ?? 'smtp', decision);
  });
  const offDeliveries = options.deliveries?.subscribe(({ result }) => outcomes.set(result, (outcomes.get(result) ?? 0) + 1));
  const offAttempts = options.deliveries?.subscribeAttempts((event) => attemptSeconds.observe({ result: event.result }, event.durationMs / 1000));

  // prom-client cannot take a histogram's buckets ready-made, and the DNSBL
  // engine already keeps them (fixed buckets, no allocation per query): this
  // family is written out here, after the registry's text.
  const DNSBL_LATENCY = 'relayguard_dnsbl_lookup_duration_seconds';
  const zoneHistogram = async (): Promise<string> => {
    let list: Awaited<ReturnType<typeof zones>>;
    try {
      list = await zones();
    } catch {
      return '';
    }
    const lines = [`# HELP ${DNSBL_LATENCY} DNSBL query latency per zone (queries sent; cache hits excluded).`, `# TYPE ${DNSBL_LATENCY} histogram`];
    for (const z of list) {
      if (!z.latency) continue;
      const zone = z.zone.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
      const { boundsMs, buckets, sumMs } = z.latency;
      boundsMs.forEach((bound, i) => lines.push(`${DNSBL_LATENCY}_bucket{le="${bound / 1000}",zone="${zone}"} ${buckets[i] ?? 0}`));
      const count = buckets[boundsMs.length] ?? 0;
      lines.push(`${DNSBL_LATENCY}_bucket{le="+Inf",zone="${zone}"} ${count}`, `${DNSBL_LATENCY}_sum{zone="${zone}"} ${sumMs / 1000}`, `${DNSBL_LATENCY}_count{zone="${zone}"} ${count}`);
    }
    return `${lines.join('\n')}\n`;
  };

  const dashboardRequests = new Counter({
    name: 'relayguard_dashboard_actions_total',
    help: 'State-changing dashboard requests by action and result (done, or refused: CSRF token, origin, content type).',
    labelNames: ['action', 'result'] as const, registers,
  });
  const dashboardMessages = new Counter({
    name: 'relayguard_dashboard_action_messages_total',
    help: 'Messages a dashboard queue action was carried out on, by action and outcome (ok, failed).',
    labelNames: ['action', 'outcome'] as const, registers,
  });

  return {
    registry,
    contentType: registry.contentType,
    dashboardActions: {
      request: (action, result) => dashboardRequests.inc({ action, result }),
      messages: (action, outcome, count) => dashboardMessages.inc({ action, outcome }, count),
    },
    render: async () => {
      const [text, histogram] = await Promise.all([registry.metrics(), zoneHistogram()]);
      return text.endsWith('\n') || text === '' ? text + histogram : `${text}\n${histogram}`;
    },
    close() {
      offDecisions();
      offDeliveries?.();
      offAttempts?.();
    },
  };
}

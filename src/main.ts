// The composition root: the only place that wires modules together. It
// builds the policy store, spool, queue runner, policy (engine + facts), the
// SMTP front door and the dashboard from one config file, and takes them down
// in the right order. Nothing else imports across folders this way.
// With [cluster] redis, the counters (rates, AUTH failures) and the DNSBL
// cache's second level come from src/cluster and are shared by every
// instance; each instance keeps its own spool, its queue ids prefixed with
// cluster.instance.
import { access, constants } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import type { DestinationStream } from 'pino';
import { loadConfig } from './config/load-config.ts';
import { openPolicyStore, type PolicyStore } from './config/policy-store.ts';
import type { Config } from './config/schema.ts';
import { chooseLogFormat, createLogger, type Logger } from './log/logger.ts';
import { DecisionLog } from './observability/decision-log.ts';
import { logDecisions } from './observability/decision-logger.ts';
import { DeliveryLog } from './observability/delivery-log.ts';
import { openSpool, quarantineDirOf, spoolDirOf, type Spool } from './spool/spool.ts';
import { startQueueRunner, type QueueRunner } from './delivery/queue-runner.ts';
import { delivererConfig } from './delivery/deliverer.ts';
import { createWorkerDeliverer } from './delivery/worker-deliverer.ts';
import { Authenticator } from './auth/authenticator.ts';
import { MemoryAuthFailureStore } from './auth/failure-store.ts';
import { createSessionDriver } from './session/session-driver.ts';
import { JournalWriter, journalDirOf } from './journal/journal-writer.ts';
import { createReloadGuard } from './journal/reload-guard.ts';
import { forwardDeliveryEvents, DeferralTracker } from './delivery/delivery-events.ts';
import { RefusalStats } from './delivery/refusal-stats.ts';
import { SelfCheck } from './facts/dnsbl/self-check.ts';
import { FrontDoor } from './smtp/front-door.ts';
import { PolicyServer, type PolicyServerAddress } from './policy-service/policy-server.ts';
import { MilterServer, type MilterAddress } from './milter/milter-server.ts';
import { LATENCY_BUCKETS_MS } from './facts/dnsbl/zone-stats.ts';
import { loadTlsMaterial } from './smtp/tls-material.ts';
import { assumeServiceUser } from './privileges.ts';
import { createDashboard, type Dashboard } from './http/dashboard.ts';
import { createQueueAdmin } from './delivery/queue-admin.ts';
import type { AccountsStatus, DashboardSources } from './observability/sources.ts';
import { createFactsRuntime, type FactsRuntime } from './facts/providers.ts';
import { verificationRoute } from './delivery/verification-route.ts';
import type { PolicySnapshot } from './config/snapshot.ts';
import { startCluster, type ClusterRuntime } from './cluster/cluster-runtime.ts';
import type { ClusterStatus } from './observability/sources.ts';
import path from 'node:path';
import { AccountMonitor } from './accounts/account-monitor.ts';
import { AccountStore } from './accounts/account-store.ts';
import { accountFactsProvider } from './accounts/account-facts.ts';
import { handleAccountsControl } from './accounts/account-commands.ts';
import type { DecisionLog as DecisionLogType } from './observability/decision-log.ts';

export interface RelayOptions {
  readonly configFile: string;
  /** Where log lines go (tests capture them); default stdout. */
  readonly logDestination?: DestinationStream;
  readonly logger?: Logger;
  /** The clock of account anomaly detection (tests simulate hours of a user's mail); default Date.now. */
  readonly accountsClock?: () => number;
}

export interface Relay {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: PolicyStore;
  readonly spool: Spool;
  readonly runner: QueueRunner;
  readonly frontDoor: FrontDoor;
  readonly decisions: DecisionLog;
  readonly deliveries: DeliveryLog;
  readonly dashboard: Dashboard | undefined;
  /** The decision journal's writer (undefined with [journal] enabled = false). */
  readonly journal: JournalWriter | undefined;
  /** Shared state (Redis) when config [cluster] names one. */
  readonly cluster: ClusterRuntime | undefined;
  /** Live recipient verification: its answer cache and counters (config [recipient_verification]). */
  readonly verifier: FactsRuntime['verifier'];
  /** The DNSBL self-check of our outbound addresses (config [self_check]). */
  readonly selfCheck: SelfCheck;
  /** Account anomaly detection ([accounts] enabled): suspects, release, lock. */
  readonly accounts: AccountMonitor | undefined;
  /** Bound addresses: listeners by name, and the dashboard. */
  readonly smtp: ReadonlyArray<{ name: string; host: string; port: number }>;
  readonly http: { host: string; port: number } | undefined;
  /** The Postfix policy service ([policy_service] enabled), and where it listens. */
  readonly policyService: PolicyServer | undefined;
  readonly policy: PolicyServerAddress | undefined;
  /** The milter ([milter] enabled), and where it listens. */
  readonly milterService: MilterServer | undefined;
  readonly milter: MilterAddress | undefined;
  /** SIGTERM: stop accepting, drain transactions and deliveries (bounded), close. */
  stop(): Promise<void>;
}

export function version(): string {
  const require = createRequire(import.meta.url);
  return (require('../package.json') as { version: string }).version;
}

export async function startRelay(options: RelayOptions): Promise<Relay> {
  const startedAt = Date.now();
  const initialConfig = await loadConfig(options.configFile);
  const logger =
    options.logger ??
    createLogger(initialConfig.log_level, options.logDestination, chooseLogFormat(initialConfig.log_format, process.stdout.isTTY === true));
  // Started as root with [service] user: from here on as that user, root again only to bind.
  const privileges = assumeServiceUser(initialConfig.service);
  // The decision journal: its settings are read once, at start (restart keys).
  const journalDir = journalDirOf(initialConfig.dataDir);
  const journal = initialConfig.journal.enabled
    ? new JournalWriter({
        dir: journalDir,
        maxBytes: initialConfig.journal.max_bytes,
        maxAge: initialConfig.journal.max_age,
        segmentBytes: initialConfig.journal.segment_bytes,
        flushInterval: initialConfig.journal.flush_interval,
        logger: logger.child({ component: 'journal' }),
      })
    : undefined;
  const guard = journal ? createReloadGuard({ journalDir, flush: () => journal.flush() }) : undefined;
  const store = await openPolicyStore({ configFile: options.configFile, logger, ...(guard ? { guard } : {}) }).catch(async (error: unknown) => {
    await journal?.close();
    throw error;
  });
  const config = store.current().config;

  const decisions = new DecisionLog();
  const deliveries = new DeliveryLog();
  logDecisions(decisions, logger);

  const tls = await loadTlsMaterial(config, logger);
  const spool = await openSpool({ dir: spoolDirOf(config), quarantineDir: quarantineDirOf(config), logger, ...(config.cluster.instance ? { instance: config.cluster.instance } : {}) });

  const cluster = await startCluster(config.cluster, logger);
  const authenticator = new Authenticator({ store: cluster?.authStore ?? new MemoryAuthFailureStore(), failOpen: config.cluster.fail_open });
  const factsRuntime = createFactsRuntime(
    store.current(),
    logger,
    {
      nextHop: verificationRoute,
      ...(cluster ? { counters: cluster.counters, limits: cluster.limitsOptions, ...(cluster.dnsblCache ? { dnsblCache: cluster.dnsblCache } : {}) } : {}),
    },
  );
  const accounts = config.accounts.enabled ? await startAccounts(config, () => store.current().config, decisions, logger, options.accountsClock ?? Date.now, cluster) : undefined;
  const providers = accounts ? [...factsRuntime.providers, accountFactsProvider(accounts, () => store.current().config.accounts.enabled)] : factsRuntime.providers;
  const driver = createSessionDriver({ hostname: config.hostname, credentials: authenticator, facts: providers, logger });
  // The policy service asks the DATA stage at a message's first RCPT and again at DATA, and cannot hold
  // Postfix's mail: account anomaly detection watches our own front door only (README).
  const policyDriver = accounts ? createSessionDriver({ hostname: config.hostname, credentials: authenticator, facts: factsRuntime.providers, logger }) : driver;
  const frontDoor = new FrontDoor({ config, currentSnapshot: () => store.current(), driver, spool, tls, logger, decisions, ...(journal ? { journal } : {}) });
  const policyService = config.policy_service.enabled
    ? new PolicyServer({ config, driver: policyDriver, currentSnapshot: () => store.current(), logger: logger.child({ component: 'policy-service' }), decisions, ...(journal ? { journal } : {}) })
    : undefined;
  const milterService = config.milter.enabled
    ? new MilterServer({ config, driver: policyDriver, currentSnapshot: () => store.current(), logger: logger.child({ component: 'milter' }), decisions })
    : undefined;

  let runner: QueueRunner | undefined;
  let dashboard: Dashboard | undefined;
  let liveSelfCheck: SelfCheck | undefined;
  try {
    const [smtp, policy, milter] = await privileges.bindThenDrop(() => Promise.all([frontDoor.listen(), policyService?.listen(), milterService?.listen()]));
    if (privileges.target) logger.info({ event: 'relay.privileges', user: privileges.target.user, group: privileges.target.group }, 'ports bound; running as the service user');
    const ownAddresses = () => frontDoor.addresses();
    const deliverer = config.delivery.worker
      ? createWorkerDeliverer({ config: delivererConfig(config), logger: logger.child({ component: 'delivery' }), ownAddresses })
      : undefined;
    // An expired hold is bounced only to our own users: authenticated, or a relay-networks client.
    const ownSender = (envelope: { readonly authUser?: string; readonly clientIp: string }) =>
      envelope.authUser !== undefined || store.current().relayNetworks.contains(envelope.clientIp);
    runner = startQueueRunner({ spool, config, logger, ownAddresses, ownSender, senderUnknown: (sender) => localSenderUnknown(sender, store.current(), factsRuntime), ...(deliverer ? { deliverer } : {}), ...(accounts ? { accountsControl: (request) => handleAccountsControl(accounts, request) } : {}) });
    const deferrals = new DeferralTracker();
    const refusals = new RefusalStats({ window: () => store.current().config.delivery.listing_window });
    const selfCheck = new SelfCheck({ checker: () => factsRuntime.dnsbl, settings: () => store.current().config.self_check, logger: logger.child({ component: 'self-check' }) });
    liveSelfCheck = selfCheck;
    forwardDeliveryEvents(runner, deliveries, deferrals, () => Date.now(), refusals);
    if (accounts) feedAccounts(accounts, runner, decisions);

    let http: { host: string; port: number } | undefined;
    if (config.http.enabled) {
      const sources = dashboardSources({ config, store, spool, runner, frontDoor, policyService, milterService, deferrals, refusals, selfCheck, startedAt, facts: factsRuntime, cluster, accounts });
      dashboard = createDashboard({ http: config.http, sources, decisions, deliveries, logger, queue: createQueueAdmin({ spool, runner }), ...(accounts ? { accounts } : {}) });
      http = await dashboard.server.listen();
    }

    factsRuntime.startBackground();
    selfCheck.start();
    store.onSwap((next, previous) => {
      runner?.updateConfig(next.config);
      factsRuntime.update(next);
      selfCheck.update();
      // A changed http.token ends every dashboard session (src/http/auth.ts).
      dashboard?.server.setToken(next.config.http.token);
      logger.info({ event: 'policy.swapped', generation: next.generation, previous: previous.generation }, 'policy reloaded');
    });
    store.watch();
    logger.info(
      { event: 'relay.started', smtp, http, ...(policy ? { policy } : {}), ...(milter ? { milter } : {}), spool: spool.dir, queued: spool.stats().size, ...(cluster ? { instance: cluster.instance, redis: cluster.status().address } : {}) },
      `relayguard ${version()} started`,
    );

    const liveRunner = runner;
    const liveDashboard = dashboard;
    let stopping: Promise<void> | undefined;
    return {
      config,
      logger,
      store,
      spool,
      runner: liveRunner,
      frontDoor,
      decisions,
      deliveries,
      dashboard: liveDashboard,
      journal,
      cluster,
      verifier: factsRuntime.verifier,
      selfCheck,
      accounts,
      smtp,
      http,
      policyService,
      policy,
      milterService,
      milter,
      stop() {
        stopping ??= (async () => {
          logger.info({ event: 'relay.stopping' }, 'stopping: no new connections, draining transactions');
          store.close();
          await Promise.all([frontDoor.close(), policyService?.close(), milterService?.close()]);
          await journal?.close();
          await liveRunner.stop(config.smtp.shutdown_grace);
          await accounts?.close();
          await liveDashboard?.close();
          selfCheck.close();
          factsRuntime.close();
          await cluster?.close();
          await spool.close();
          logger.info({ event: 'relay.stopped' }, 'stopped');
          logger.flush?.();
        })();
        return stopping;
      },
    };
  } catch (error) {
    await frontDoor.close(0).catch(() => undefined);
    await policyService?.close().catch(() => undefined);
    await milterService?.close().catch(() => undefined);
    await journal?.close().catch(() => undefined);
    await runner?.stop(0).catch(() => undefined);
    await accounts?.close().catch(() => undefined);
    await dashboard?.close().catch(() => undefined);
    liveSelfCheck?.close();
    factsRuntime.close();
    await cluster?.close().catch(() => undefined);
    store.close();
    await spool.close().catch(() => undefined);
    throw error;
  }
}

/**
 * A sender in one of our local domains that we know does not exist: the
 * recipients file says unknown, or the next hop refused it when it was
 * verified as a recipient. No DSN ever goes to it (issue 16 item 2).
 */
function localSenderUnknown(sender: string, snapshot: PolicySnapshot, facts: FactsRuntime): boolean {
  const at = sender.lastIndexOf('@');
  if (at <= 0) return false;
  const domain = sender.slice(at + 1).toLowerCase();
  if (!snapshot.localDomains.has(domain)) return false;
  if (snapshot.recipients.lookup(sender.slice(0, at), domain) === 'unknown') return true;
  const hop = verificationRoute(sender, snapshot.config);
  return hop !== undefined && facts.verifier.peek(hop, sender) === 'refused';
}

interface SourceParts {
  readonly config: Config;
  readonly store: PolicyStore;
  readonly spool: Spool;
  readonly runner: QueueRunner;
  readonly frontDoor: FrontDoor;
  readonly policyService: PolicyServer | undefined;
  readonly milterService: MilterServer | undefined;
  readonly deferrals: DeferralTracker;
  readonly refusals: RefusalStats;
  readonly selfCheck: SelfCheck;
  readonly startedAt: number;
  readonly facts: FactsRuntime;
  readonly cluster: ClusterRuntime | undefined;
  readonly accounts: AccountMonitor | undefined;
}

/** Account anomaly detection: its state from data_dir, its Decisions on the DecisionLog. */
async function startAccounts(config: Config, current: () => Config, decisions: DecisionLogType, logger: Logger, now: () => number, cluster: ClusterRuntime | undefined): Promise<AccountMonitor> {
  const log = logger.child({ component: 'accounts' });
  const local = new AccountStore(path.resolve(config.dataDir, config.accounts.state_file), log);
  const monitor = new AccountMonitor({
    config: () => current().accounts,
    now,
    logger: log,
    // With [cluster]: windows and episodes shared through Redis, the rest in the local file.
    store: cluster ? cluster.accountsStore(local, log) : local,
    decided: (event) =>
      decisions.publish({
        decision: event.decision,
        at: event.at,
        sessionId: event.sessionId ?? '-',
        clientIp: event.clientIp ?? '',
        user: event.user,
        ...(event.sender !== undefined ? { sender: event.sender } : {}),
      }),
  });
  await monitor.load();
  return monitor;
}

/** What the detector learns after the session: queued messages (and held ones) from the DecisionLog, remote answers from the runner. */
function feedAccounts(accounts: AccountMonitor, runner: QueueRunner, decisions: DecisionLogType): void {
  accounts.attachQueue({ release: async (id) => (await runner.release({ id })).length > 0, isHeld: (id) => runner.isHeld(id) });
  decisions.subscribe(({ decision, user, queueId }) => {
    if (decision.reason !== 'data.queued' || user === undefined || queueId === undefined) return;
    const heldBy = decision.detail?.heldBy;
    accounts.queued(queueId, user, typeof heldBy === 'string' ? heldBy : undefined);
  });
  runner.subscribe((event) => {
    if (event.type === 'removed') accounts.removed(event.queueId);
    if (event.type !== 'attempt') return;
    // Remote answers only: a 5xx from a server (refused) or a delivery; deferrals and local failures say nothing of the user.
    const answers = event.results.filter((r) => r.status === 'delivered' || (r.status === 'failed' && r.host !== undefined && r.enhanced.startsWith('5')));
    accounts.answers(event.queueId, answers.map((r) => r.status === 'failed'), event.at);
  });
}

function dashboardSources(parts: SourceParts): DashboardSources {
  return {
    instance: parts.config.cluster.instance ?? os.hostname(),
    version: version(),
    startedAt: parts.startedAt,
    queue: async () => {
      const stats = parts.runner.stats();
      const quarantined = parts.spool.stats().quarantined;
      // The folder is read only when it holds something; the newest 20 entries are shown.
      const entries = quarantined > 0 ? (await parts.spool.quarantined()).slice(-20) : [];
      return {
        size: stats.queued,
        held: stats.held,
        oldestReceivedAt: stats.oldestReceivedAt ?? null,
        deferredByDomain: parts.deferrals.byDomain(),
        refusals: parts.refusals.summary(),
        quarantine: { count: quarantined, entries: entries.map((e) => ({ name: e.name, reason: e.reason, at: e.at, bytes: e.bytes })) },
      };
    },
    lastReload: () => {
      const last = parts.store.lastReload;
      return {
        at: last.at.getTime(),
        ok: last.ok,
        generation: last.generation,
        errors: last.problems,
        restartNeeded: last.restartNeeded,
        ...(last.guard ? { guard: last.guard } : {}),
      };
    },
    dnsbl: () =>
      parts.facts.dnsbl.stats().zones.map((zone) => ({
        zone: zone.name,
        queries: zone.queries,
        listed: zone.listed,
        errors: zone.errors + zone.zoneProblems,
        timeouts: zone.timeouts,
        meanLatencyMs: zone.latency.count > 0 ? zone.latency.avgMs : null,
        latency: { boundsMs: LATENCY_BUCKETS_MS, buckets: zone.latency.buckets, sumMs: zone.latency.totalMs },
        suspended: zone.health.state === 'suspended',
      })),
    verification: () => {
      const v = parts.facts.verifier;
      const runner = parts.runner.stats();
      return {
        enabled: parts.store.current().config.recipient_verification.enabled,
        probes: v.stats.probes,
        accepted: v.stats.accepted,
        refused: v.stats.refused,
        temporary: v.stats.temporary,
        cacheHits: v.stats.hits,
        shared: v.stats.shared,
        timedOut: v.stats.timedOut,
        cached: v.cached,
        refusedAfterAccept: runner.refusedAfterAccept,
        dsnSuppressed: runner.dsnSuppressed,
      };
    },
    cache: () => {
      const cache = parts.facts.dnsbl.stats().cache;
      // Answers from the cluster's shared level sent no DNS query either.
      return { hits: cache.hits + cache.secondLevelHits, misses: cache.misses };
    },
    ready: async () => ({ listeners: parts.frontDoor.listening && (parts.policyService?.listening ?? true) && (parts.milterService?.listening ?? true), spoolWritable: await writable(parts.spool.dir) }),
    cluster: (): ClusterStatus => (parts.cluster ? { shared: true, redis: parts.cluster.status() } : { shared: false }),
    smtp: () => parts.frontDoor.counters,
    selfCheck: () => parts.selfCheck.status(),
    ...(parts.accounts ? { accounts: accountsSource(parts.accounts) } : {}),
    ...(parts.policyService ? { policyService: () => (parts.policyService as PolicyServer).counters } : {}),
    ...(parts.milterService ? { milter: () => (parts.milterService as MilterServer).counters } : {}),
  };
}

async function writable(dir: string): Promise<boolean> {
  try {
    await access(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function accountsSource(accounts: AccountMonitor): () => AccountsStatus {
  return () => ({ suspects: accounts.suspects(), ...accounts.counts() });
}

// Everything several instances share, built from config [cluster] in one
// call for the composition root:
//
//   const cluster = await startCluster(config.cluster, logger)   // undefined without cluster.redis
//   cluster.counters        LimitsCounters: rates in Redis, open connections in process
//   cluster.authStore       AuthFailureStore in Redis (lockouts hold on every instance)
//   cluster.dnsblCache      SecondLevelCache in Redis (or undefined: shared_dnsbl_cache = false)
//   cluster.limitsOptions   how the limits provider treats a failed count (fail_open)
//   cluster.accountsStore(local)  account anomaly state shared in Redis (redis-account-store.ts)
//   cluster.status()        for the dashboard, /api/status and /metrics
//   await cluster.close()
//
// Open connections per client stay counted per process on purpose: a count
// that lives in Redis outlives an instance that crashed with connections
// open, and those would count forever; the load balancer sees every
// connection and is the right place for that cap (README: HAProxy's
// src_conn_cur). Rate windows end by themselves, so sharing them is safe.
//
// The Redis parts (ioredis, the Redis limiters) are imported only when
// [cluster] names a server: a single instance never loads them (about 4 MiB of
// code and heap it would carry for nothing; BENCHMARKS.md, memory).
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { AuthFailureStore } from '../auth/failure-store.ts';
import type { SecondLevelCache } from '../facts/dnsbl/dnsbl-cache.ts';
import { MemoryConcurrencyCounter } from '../facts/limits/counters.ts';
import type { LimitsCounters, LimitsProviderOptions } from '../facts/limits/limits-provider.ts';
import type { RedisLink } from './redis-link.ts';
import type { RedisStatus } from './redis-health.ts';
import type { AccountStateStore } from '../accounts/account-store.ts';

export interface ClusterRuntime {
  readonly instance: string;
  readonly failOpen: boolean;
  readonly counters: LimitsCounters;
  readonly authStore: AuthFailureStore;
  readonly dnsblCache: SecondLevelCache | undefined;
  readonly limitsOptions: LimitsProviderOptions;
  readonly link: RedisLink;
  /** The account detector's store: `local` for what stays per instance, Redis for what is shared. */
  accountsStore(local: AccountStateStore, logger: Logger): AccountStateStore;
  status(): RedisStatus;
  close(): Promise<void>;
}

/** How long startup waits for the first connection before starting without it (logged as an outage). */
export const STARTUP_WAIT_MS = 2000;

export async function startCluster(cluster: Config['cluster'], logger: Logger): Promise<ClusterRuntime | undefined> {
  if (cluster.redis === undefined || cluster.instance === undefined) return undefined;
  const [{ openRedisLink }, { SharedRateCounter }, { SharedAuthFailureStore }, { redisDnsblCache }, { RedisAccountStore }] = await Promise.all([
    import('./redis-link.ts'),
    import('./shared-rate-counter.ts'),
    import('./redis-auth-failure-store.ts'),
    import('./redis-dnsbl-cache.ts'),
    import('./redis-account-store.ts'),
  ]);
  const log = logger.child({ component: 'cluster' });
  const link = openRedisLink({
    url: cluster.redis,
    instance: cluster.instance,
    commandTimeoutMs: cluster.command_timeout,
    failOpen: cluster.fail_open,
    logger: log,
  });
  await link.waitReady(STARTUP_WAIT_MS);
  const prefix = cluster.key_prefix;
  const instance = cluster.instance;
  return {
    instance: cluster.instance,
    failOpen: cluster.fail_open,
    counters: {
      rates: new SharedRateCounter({ link, keyPrefix: prefix, failOpen: cluster.fail_open }),
      connections: new MemoryConcurrencyCounter(),
    },
    authStore: new SharedAuthFailureStore({ link, keyPrefix: prefix, failOpen: cluster.fail_open }),
    dnsblCache: cluster.shared_dnsbl_cache ? redisDnsblCache(link, prefix) : undefined,
    limitsOptions: {
      failOpen: cluster.fail_open,
      // The link logged the outage once; each refused command has its own decision line.
      onCounterError: (error, { stage, client }) => log.debug({ err: error, stage, client }, 'shared counters unavailable for this command'),
    },
    link,
    accountsStore: (local, accountsLogger) => new RedisAccountStore({ local, link, keyPrefix: prefix, instance, logger: accountsLogger }),
    status: () => link.health.status(),
    close: () => link.close(),
  };
}

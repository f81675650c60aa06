// GET /api/status: one JSON document with everything the page shows. Each
// source is read on its own; one that fails (or hangs past the timeout)
// becomes `{ "error": "..." }` in its section while the rest still answers,
// because during an incident a partial picture beats a 500.
import type { TrafficSnapshot, TrafficStats } from '../observability/traffic-stats.ts';
import type { AccountsStatus, CacheStats, ClusterStatus, DashboardSources, QueueStats, Readiness, ReloadSummary, SelfCheckView, VerificationStats, ZoneStats } from '../observability/sources.ts';

export type Section<T> = T | { readonly error: string };

export interface ZoneView extends ZoneStats {
  /** listed / queries, 0 before the first query. */
  readonly hitRate: number;
}

export interface StatusDocument {
  readonly instance: string;
  readonly version: string;
  readonly startedAt: number;
  readonly now: number;
  readonly uptimeSeconds: number;
  readonly ready: Section<Readiness & { readonly ready: boolean }>;
  readonly traffic: TrafficSnapshot;
  readonly queue: Section<QueueStats & { readonly oldestAgeSeconds: number | null }>;
  readonly reload: Section<ReloadSummary>;
  readonly dnsbl: Section<{ readonly zones: readonly ZoneView[] }>;
  readonly cache: Section<CacheStats & { readonly hitRatio: number }>;
  readonly cluster: Section<ClusterStatus>;
  /** Recipient verification and the backscatter guard (issue 16); null when the build has no such source. */
  readonly verification: Section<VerificationStats | null>;
  /** The DNSBL self-check of our outbound addresses (issue 19); null when the build has no such source. */
  readonly selfCheck: Section<SelfCheckView | null>;
  /** Account anomaly detection (issue 19 item 2): suspects (newest first) and counts; null when it is off. */
  readonly accounts: Section<AccountsStatus | null>;
}

const SOURCE_TIMEOUT_MS = 2000;

async function settle<T, V>(read: () => T | Promise<T>, view: (value: T) => V): Promise<Section<V>> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${SOURCE_TIMEOUT_MS} ms`)), SOURCE_TIMEOUT_MS);
    });
    return view(await Promise.race([Promise.resolve().then(read), timeout]));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { error: message.slice(0, 300) };
  } finally {
    clearTimeout(timer);
  }
}

export const ratio = (part: number, whole: number): number => (whole > 0 ? part / whole : 0);

export async function buildStatus(sources: DashboardSources, traffic: TrafficStats, now: number): Promise<StatusDocument> {
  const [ready, queue, reload, dnsbl, cache, cluster, verification, selfCheck, accounts] = await Promise.all([
    settle(() => sources.ready(), (r) => ({ listeners: r.listeners, spoolWritable: r.spoolWritable, ready: r.listeners && r.spoolWritable })),
    settle(() => sources.queue(), (q) => ({
      ...q,
      oldestAgeSeconds: q.oldestReceivedAt === null ? null : Math.max(0, Math.round((now - q.oldestReceivedAt) / 1000)),
    })),
    settle(() => sources.lastReload(), (r) => r),
    settle(() => sources.dnsbl(), (zones) => ({ zones: zones.map((z) => ({ ...z, hitRate: ratio(z.listed, z.queries) })) })),
    settle(() => sources.cache(), (c) => ({ hits: c.hits, misses: c.misses, hitRatio: ratio(c.hits, c.hits + c.misses) })),
    settle((): ClusterStatus | Promise<ClusterStatus> => sources.cluster?.() ?? { shared: false }, (c) => c),
    settle((): VerificationStats | null | Promise<VerificationStats> => sources.verification?.() ?? null, (v) => v),
    settle((): SelfCheckView | null | Promise<SelfCheckView> => sources.selfCheck?.() ?? null, (v) => v),
    settle((): AccountsStatus | null | Promise<AccountsStatus> => sources.accounts?.() ?? null, (a) => a),
  ]);
  return {
    instance: sources.instance,
    version: sources.version,
    startedAt: sources.startedAt,
    now,
    uptimeSeconds: Math.max(0, Math.floor((now - sources.startedAt) / 1000)),
    ready,
    traffic: traffic.snapshot(),
    queue,
    reload,
    dnsbl,
    cache,
    cluster,
    verification,
    selfCheck,
    accounts,
  };
}

// Test inputs for the dashboard: decisions as the SMTP front door publishes
// them, and the read-only views of the spool, policy store and DNSBL engine
// as plain mutable values (what the DashboardSources contract lets a
// composition root pass in).
import type { DecisionEvent } from '../../src/observability/decision-log.ts';
import type { CacheStats, ClusterStatus, DashboardSources, QueueStats, Readiness, ReloadSummary, ZoneStats } from '../../src/observability/sources.ts';
import { defer, permit, reject, type Decision } from '../../src/policy/decision.ts';

export interface SourceState {
  queue: QueueStats;
  reload: ReloadSummary;
  zones: ZoneStats[];
  cache: CacheStats;
  ready: Readiness;
  /** Shared state; undefined: a single instance (no cluster source at all). */
  cluster?: ClusterStatus;
  /** When set, the named source throws this message. */
  failing: Partial<Record<'queue' | 'reload' | 'dnsbl' | 'cache' | 'ready' | 'cluster', string>>;
}

export function sourceState(now: number): SourceState {
  return {
    queue: { size: 0, oldestReceivedAt: null, deferredByDomain: [] },
    reload: { at: now, ok: true, generation: 1, errors: [] },
    zones: [],
    cache: { hits: 0, misses: 0 },
    ready: { listeners: true, spoolWritable: true },
    failing: {},
  };
}

export function sourcesFrom(state: SourceState, startedAt: number): DashboardSources {
  const read = <T>(name: keyof SourceState['failing'], value: () => T): T => {
    const failure = state.failing[name];
    if (failure) throw new Error(failure);
    return value();
  };
  return {
    instance: 'relay-test',
    version: '0.1.0',
    startedAt,
    queue: async () => read('queue', () => state.queue),
    lastReload: () => read('reload', () => state.reload),
    dnsbl: async () => read('dnsbl', () => state.zones),
    cache: () => read('cache', () => state.cache),
    ready: async () => read('ready', () => state.ready),
    cluster: () => read('cluster', () => state.cluster ?? { shared: false }),
  };
}

/** A decision event as the SMTP front door would publish it. */
export function decisionEvent(decision: Decision, clientIp: string, at: number, extra: Partial<DecisionEvent> = {}): DecisionEvent {
  return { decision, at, sessionId: `s-${at}-${clientIp}`, clientIp, ...extra };
}

export const queued = (): Decision => permit('data', 'spool', 'data.queued');
export const relayDenied = (): Decision =>
  reject('rcpt', 'relay-networks', 'relay.denied', { code: 554, enhanced: '5.7.1', text: 'Relay access denied' });
export const dnsblListed = (): Decision =>
  reject('rcpt', 'dnsbl', 'dnsbl.listed', { code: 554, enhanced: '5.7.1', text: 'Service unavailable; client listed' });
export const rateDeferred = (): Decision =>
  defer('rcpt', 'limits', 'rcpt.rate', { code: 450, enhanced: '4.7.1', text: 'Too many messages, slow down' });

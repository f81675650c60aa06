// The whole dashboard in one call, for the composition root: a traffic
// aggregator and a Prometheus registry subscribed to the decision and
// delivery logs, and the HTTP server that shows them. close() stops the
// server and unsubscribes, so a stopped dashboard holds no listeners.
import type { Logger } from '../log/logger.ts';
import type { DecisionLog } from '../observability/decision-log.ts';
import type { DeliveryLog } from '../observability/delivery-log.ts';
import { createMetrics, type Metrics } from '../observability/metrics.ts';
import { TrafficStats } from '../observability/traffic-stats.ts';
import { createHttpServer, type HttpServer, type HttpServerOptions } from './server.ts';
import type { DashboardSources } from '../observability/sources.ts';
import type { AccountControl } from '../accounts/account-control.ts';
import type { QueueAdmin } from '../delivery/queue-admin.ts';

export interface DashboardOptions {
  /** The [http] section of config.toml (address, token). */
  readonly http: HttpServerOptions['http'];
  readonly sources: DashboardSources;
  readonly decisions: DecisionLog;
  readonly deliveries: DeliveryLog;
  readonly logger: Logger;
  readonly now?: () => number;
  readonly pollIntervalMs?: number;
  /** Node process metrics in /metrics; default true. */
  readonly processMetrics?: boolean;
  /** The queue view and its actions (src/delivery/queue-admin.ts); absent: the view says it is not available. */
  readonly queue?: QueueAdmin | undefined;
  /** Account anomaly detection; absent: the suspect-accounts panel says it is not configured. */
  readonly accounts?: AccountControl | undefined;
}

export interface Dashboard {
  readonly server: HttpServer;
  readonly traffic: TrafficStats;
  readonly metrics: Metrics;
  /** Stops the HTTP server and unsubscribes from both logs. */
  close(): Promise<void>;
}

export function createDashboard(options: DashboardOptions): Dashboard {
  const now = options.now ?? Date.now;
  const traffic = new TrafficStats({ now });
  const detach = traffic.attach(options.decisions, options.deliveries);
  const metrics = createMetrics({
    sources: options.sources, decisions: options.decisions, deliveries: options.deliveries, now,
    processMetrics: options.processMetrics ?? true,
  });
  let server: HttpServer;
  try {
    server = createHttpServer({
      http: options.http, sources: options.sources, traffic, metrics, logger: options.logger, now,
      ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
      queue: options.queue,
      accounts: options.accounts,
    });
  } catch (error) {
    detach();
    metrics.close();
    throw error;
  }
  return {
    server,
    traffic,
    metrics,
    async close() {
      detach();
      metrics.close();
      await server.close();
    },
  };
}

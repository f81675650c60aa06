// Starts the real dashboard (createDashboard: DecisionLog, DeliveryLog,
// traffic aggregator, prom-client registry, fastify server) on 127.0.0.1:0
// for tests, with the sources of dashboard-events.ts; and a plain HTTP client.
import http from 'node:http';
import { DecisionLog } from '../../src/observability/decision-log.ts';
import { DeliveryLog } from '../../src/observability/delivery-log.ts';
import { silentLogger } from '../../src/log/logger.ts';
import type { Metrics } from '../../src/observability/metrics.ts';
import type { TrafficStats } from '../../src/observability/traffic-stats.ts';
import { createDashboard } from '../../src/http/dashboard.ts';
import type { HttpServer } from '../../src/http/server.ts';
import { sourcesFrom, sourceState, type SourceState } from './dashboard-events.ts';

export * from './dashboard-events.ts';

export interface Dashboard {
  readonly url: string;
  readonly decisions: DecisionLog;
  readonly deliveries: DeliveryLog;
  readonly traffic: TrafficStats;
  readonly metrics: Metrics;
  readonly state: SourceState;
  readonly server: HttpServer;
  close(): Promise<void>;
}

export async function startDashboard(options: { token?: string; now?: () => number; pollIntervalMs?: number } = {}): Promise<Dashboard> {
  const now = options.now ?? Date.now;
  const decisions = new DecisionLog();
  const deliveries = new DeliveryLog();
  const state = sourceState(now());
  const dashboard = createDashboard({
    http: { address: { host: '127.0.0.1', port: 0 }, token: options.token },
    sources: sourcesFrom(state, now() - 3_725_000),
    decisions, deliveries, logger: silentLogger(), now, processMetrics: false,
    ...(options.pollIntervalMs ? { pollIntervalMs: options.pollIntervalMs } : {}),
  });
  const bound = await dashboard.server.listen();
  return {
    url: `http://127.0.0.1:${bound.port}`,
    decisions, deliveries, state,
    traffic: dashboard.traffic, metrics: dashboard.metrics, server: dashboard.server,
    close: () => dashboard.close(),
  };
}

export interface RawResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One plain HTTP request (no redirects followed, no cookie jar): what the test sends is what the server sees. */
export function request(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`timeout: ${url}`)));
    req.end(options.body);
  });
}

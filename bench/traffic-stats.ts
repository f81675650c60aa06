// What the dashboard costs per decision: DecisionLog.publish with the traffic
// aggregator and the metrics registry subscribed, against publish with one
// trivial subscriber (the baseline, measured in the same run). Two loads:
// refusals from 50 addresses, and a botnet flood where every refusal comes
// from a new address (the refused-IP table is full and evicts).
// Run: node --import tsx bench/traffic-stats.ts
import { DecisionLog, type DecisionEvent } from '../src/observability/decision-log.ts';
import { createMetrics } from '../src/observability/metrics.ts';
import { TrafficStats } from '../src/observability/traffic-stats.ts';
import { reject } from '../src/policy/decision.ts';
import { sourcesFrom, sourceState } from '../test/helpers/dashboard-events.ts';

const N = 200_000;
const decision = reject('rcpt', 'dnsbl', 'dnsbl.listed', { code: 554, enhanced: '5.7.1', text: 'listed' });
const now = Date.now();
const events = (distinct: number): DecisionEvent[] =>
  Array.from({ length: N }, (_, i) => {
    const n = i % distinct;
    return { decision, at: now, sessionId: 's', clientIp: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}` };
  });

function run(log: DecisionLog, list: DecisionEvent[]): number {
  const start = process.hrtime.bigint();
  for (const event of list) log.publish(event);
  return Number(process.hrtime.bigint() - start) / list.length;
}

function measure(label: string, list: DecisionEvent[]): void {
  const baseline = new DecisionLog();
  let sink = 0;
  baseline.subscribe((e) => { sink += e.at; });
  const full = new DecisionLog();
  new TrafficStats({ now: () => now }).attach(full);
  createMetrics({ sources: sourcesFrom(sourceState(now), now), decisions: full, processMetrics: false });
  run(baseline, list.slice(0, 20_000)); // warm-up
  run(full, list.slice(0, 20_000));
  const base = run(baseline, list);
  const cost = run(full, list);
  console.log(`${label}: baseline ${base.toFixed(0)} ns/decision, with dashboard ${cost.toFixed(0)} ns/decision, ratio ${(cost / base).toFixed(1)}x${sink < 0 ? '!' : ''}`);
}

measure('50 refusing addresses', events(50));
measure('every refusal from a new address', events(N));

// The dashboard with its queue view wired to a real spool and queue runner
// (delivering to an smtp-server sink on 127.0.0.1), for the queue-action API
// tests and the browser test: the same createDashboard + createQueueAdmin
// that src/main.ts wires. Optional AccountControl test double.
import type { AccountControl, SuspectAccount } from '../../src/accounts/account-control.ts';
import { createDashboard } from '../../src/http/dashboard.ts';
import { createQueueAdmin } from '../../src/delivery/queue-admin.ts';
import { startQueueRunner } from '../../src/delivery/queue-runner.ts';
import type { QueueRunner } from '../../src/delivery/runner-types.ts';
import { DecisionLog } from '../../src/observability/decision-log.ts';
import { DeliveryLog } from '../../src/observability/delivery-log.ts';
import { openSpool, type Spool } from '../../src/spool/spool.ts';
import { readCookie, SESSION_COOKIE } from '../../src/http/auth.ts';
import { request, sourcesFrom, sourceState, type RawResponse } from './dashboard-fixture.ts';
import { startSmtpSink, type SmtpSink } from './smtp-sink.ts';
import { captureLogger, tempDir, testConfig } from './spool-fixtures.ts';

export interface QueueDashboard {
  readonly url: string;
  readonly host: string;
  readonly spool: Spool;
  readonly runner: QueueRunner;
  readonly sink: SmtpSink;
  readonly lines: Array<Record<string, unknown>>;
  /** Signs in with the token (POST /login); returns the Cookie header value. */
  login(): Promise<string>;
  /** The CSRF token for the given credentials (GET /api/session). */
  csrf(headers?: Record<string, string>): Promise<string>;
  /** A JSON POST as a same-origin page sends it; `headers` override or add. */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<RawResponse>;
  get(path: string, headers?: Record<string, string>): Promise<RawResponse>;
}

type After = { after(fn: () => Promise<void> | void): void };

export async function startQueueDashboard(t: After, options: { token?: string; accounts?: AccountControl; senderUnknown?: (sender: string) => boolean } = {}): Promise<QueueDashboard> {
  const dir = await tempDir(t as { after(fn: () => Promise<void>): void }, 'rg-qdash-');
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  const { logger, lines } = captureLogger();
  const config = testConfig(dir, `mode = "smarthost"\nretry_schedule = ["1h"]\n[delivery.smarthost]\nhosts = ["${sink.address}"]`);
  const spool = await openSpool({ dir, logger });
  const runner = startQueueRunner({ spool, config, logger, control: false, ...(options.senderUnknown ? { senderUnknown: options.senderUnknown } : {}) });
  t.after(async () => {
    await runner.stop(1000).catch(() => undefined);
    await spool.close().catch(() => undefined);
  });
  const decisions = new DecisionLog();
  const deliveries = new DeliveryLog();
  const dashboard = createDashboard({
    http: { address: { host: '127.0.0.1', port: 0 }, token: options.token },
    sources: sourcesFrom(sourceState(Date.now()), Date.now() - 60_000),
    decisions, deliveries, logger, processMetrics: false,
    queue: createQueueAdmin({ spool, runner }),
    ...(options.accounts ? { accounts: options.accounts } : {}),
  });
  const bound = await dashboard.server.listen();
  t.after(() => dashboard.close().catch(() => undefined));
  const host = `127.0.0.1:${bound.port}`;
  const url = `http://${host}`;
  let cookie = '';
  const auth = (extra: Record<string, string> = {}) => ({ ...(cookie ? { cookie } : {}), ...extra });
  const qd: QueueDashboard = {
    url, host, spool, runner, sink, lines,
    async login() {
      const res = await request(`${url}/login`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: url },
        body: `token=${encodeURIComponent(options.token ?? '')}`,
      });
      const set = String(res.headers['set-cookie'] ?? '');
      const id = readCookie(set.split(';')[0], SESSION_COOKIE);
      if (res.status !== 303 || !id) throw new Error(`login failed: ${res.status}`);
      cookie = `${SESSION_COOKIE}=${id}`;
      return cookie;
    },
    async csrf(headers) {
      const res = await request(`${url}/api/session`, { headers: headers ?? auth() });
      if (res.status !== 200) throw new Error(`GET /api/session: ${res.status} ${res.body}`);
      return (JSON.parse(res.body) as { csrf: string }).csrf;
    },
    async post(path, body, headers = {}) {
      return request(`${url}${path}`, {
        method: 'POST',
        headers: auth({ 'content-type': 'application/json', origin: url, 'sec-fetch-site': 'same-origin', ...headers }),
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    },
    async get(path, headers = {}) {
      return request(`${url}${path}`, { headers: auth(headers) });
    },
  };
  return qd;
}

/** A small AccountControl for tests: a fixed list of suspects, and a record of every call. */
export class TestAccounts implements AccountControl {
  readonly calls: string[] = [];
  constructor(private list: SuspectAccount[]) {}
  suspects(): SuspectAccount[] {
    return this.list.map((s) => ({ ...s, triggers: s.triggers.map((x) => ({ ...x, evidence: { ...x.evidence } })) }));
  }
  async release(user: string, by: string, releaseHeld: boolean): Promise<boolean> {
    this.calls.push(`release ${user} by ${by} releaseHeld=${releaseHeld}`);
    const before = this.list.length;
    this.list = this.list.filter((s) => s.user !== user);
    return this.list.length < before;
  }
  async lock(user: string, by: string): Promise<void> {
    this.calls.push(`lock ${user} by ${by}`);
    this.list = this.list.map((s) => (s.user === user ? { ...s, state: 'locked' } : s));
  }
}

export function suspect(user: string, heldMessages = 3): SuspectAccount {
  return {
    user, state: 'held', since: '2026-12-06T10:00:00.000Z', heldMessages,
    triggers: [{
      trigger: 'recipient_domains', action: 'hold', reason: `${user}: 212 distinct recipient domains in 10 min (baseline 4/h)`,
      at: '2026-12-06T10:00:00.000Z', evidence: { distinct_domains_10m: 212, baseline_domains_per_hour: 4 },
    }],
  };
}

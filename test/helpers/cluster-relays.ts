// Two whole relays (startRelay through the relay harness, each with its own
// config directory, spool and dashboard) sharing one real redis-server, one
// recording upstream sink, and optionally HAProxy in front of their "mx-lb"
// listeners with send-proxy-v2. For test/cluster/*.cluster.ts.
//
// Listeners of each relay, all on 127.0.0.1:0:
//   mx           plain MX, clients connect directly (localAddress plays the client)
//   mx-lb        MX behind HAProxy: trusts PROXY headers from 127.0.0.1
//   submissions  implicit TLS with AUTH
import { startSmtpSink, type SmtpSink } from './smtp-sink.ts';
import { smarthostTo, startHarness, type RelayHarness } from './relay-harness.ts';
import { startHaproxy, startRedisServer, type HaproxyServer, type RedisServer } from './cluster-servers.ts';
import { connectFrom, data, envelope } from './abuse-clients.ts';

export const CLUSTER_LISTENERS = `
[[listeners]]
name = "mx"
address = "127.0.0.1:0"
role = "mx"
tls = "starttls"

[[listeners]]
name = "mx-lb"
address = "127.0.0.1:0"
role = "mx"
tls = "starttls"
proxy_protocol_from = ["127.0.0.1/32"]

[[listeners]]
name = "submissions"
address = "127.0.0.1:0"
role = "submission"
tls = "implicit"

[http]
address = "127.0.0.1:0"
`;

export interface ClusterPair {
  readonly redis: RedisServer;
  readonly sink: SmtpSink;
  readonly a: RelayHarness;
  readonly b: RelayHarness;
  /** HAProxy in front of both "mx-lb" listeners (when asked for). */
  readonly haproxy: HaproxyServer | undefined;
}

export interface ClusterPairOptions {
  readonly policies: Record<string, string>;
  /** Extra config.toml text for both (e.g. an [auth] table). */
  readonly config?: string;
  readonly failOpen?: boolean;
  readonly haproxy?: boolean;
}

type After = { after: (fn: () => Promise<void>) => void };

export async function startClusterPair(t: After, options: ClusterPairOptions): Promise<ClusterPair> {
  // One cleanup, in order: the load balancer, the relays, then what they use
  // (so no relay logs a Redis outage while it stops).
  const stops: Array<() => Promise<void>> = [];
  t.after(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  });
  const redis = await startRedisServer();
  stops.push(() => redis.close());
  const sink = await startSmtpSink();
  stops.push(() => sink.close());
  const relay = async (instance: string): Promise<RelayHarness> => {
    const harness = await startHarness({
      config: `${CLUSTER_LISTENERS}${smarthostTo(sink.port)}${options.config ?? ''}
[cluster]
redis = "${redis.url}"
instance = "${instance}"
fail_open = ${options.failOpen ?? true}
command_timeout = "200ms"
`,
      policies: options.policies,
    });
    stops.push(() => harness.stop());
    return harness;
  };
  const a = await relay('relay-a');
  const b = await relay('relay-b');
  let haproxy: HaproxyServer | undefined;
  if (options.haproxy) {
    const backend = (relay: RelayHarness) => ({ smtp: relay.port('mx-lb'), http: relay.relay.http?.port ?? 0 });
    const started = await startHaproxy([backend(a), backend(b)]);
    stops.push(() => started.close());
    haproxy = started;
  }
  return { redis, sink, a, b, haproxy };
}

/**
 * One message on its own connection from `localAddress`: the greeting's
 * reply if it is not 220, else the reply to MAIL if it is not 250, else the
 * reply to DATA. The first line of that reply.
 */
export async function sendOne(port: number, localAddress: string, subject: string, to = 'bob@example.test'): Promise<string> {
  const { talk, greeting } = await connectFrom(port, localAddress);
  try {
    if (greeting?.code !== 220) return greeting?.lines[0] ?? 'closed';
    const lines = await envelope(talk, 'sender@other.example', [to]);
    if (!lines.every((line) => line.startsWith('250'))) return lines.find((line) => !line.startsWith('250')) ?? '';
    const reply = await data(talk, `Subject: ${subject}\r\n\r\nbody of ${subject}`);
    await talk.command('QUIT').catch(() => undefined);
    return reply.lines[0] ?? '';
  } finally {
    talk.close();
  }
}

/** Decision log lines of a relay, optionally for one client and reason. */
export function decisions(harness: RelayHarness, filter: { client?: string; reason?: string } = {}): Array<Record<string, unknown>> {
  return harness.logs.filter((line) => line.msg === 'decision' && (filter.client === undefined || line.client === filter.client) && (filter.reason === undefined || line.reason === filter.reason));
}

export async function getJson(port: number, route: string): Promise<Record<string, unknown>> {
  const response = await fetch(`http://127.0.0.1:${port}${route}`);
  return (await response.json()) as Record<string, unknown>;
}

export async function getText(port: number, route: string): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}${route}`)).text();
}

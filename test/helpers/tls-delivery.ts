// Delivery over TLS against real upstreams, for the TLS level and REQUIRETLS
// tests: a test PKI (a CA, certificates it signed for the MX name, for
// another name, expired, and a stranger CA), and one delivery attempt of one
// message through a queue runner to an smtp-server sink, with MX names
// served by the test DNS server; what came of it is read from the runner's
// events, the journal, `relayguard queue show` and the delivery log.
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openSpool, spoolDirOf } from '../../src/spool/spool.ts';
import { startQueueRunner, type DeliveryEvent } from '../../src/delivery/queue-runner.ts';
import { delivererConfig } from '../../src/delivery/deliverer.ts';
import { createWorkerDeliverer } from '../../src/delivery/worker-deliverer.ts';
import { startDnsServer } from './dns-server.ts';
import { startSmtpSink, type SinkOptions, type SmtpSink } from './smtp-sink.ts';
import { captureLogger, envelope, rfc822, tempDir, testConfig } from './spool-fixtures.ts';
import { createTestCa, issueLeaf, type KeyPair } from './test-pki.ts';
import { queue, writeConfig } from './queue-cli.ts';
import { waitFor } from './wait-for.ts';

export const MX_NAME = 'mx.dest.test';
export const MX_ADDRESS = '127.0.0.2';
const DAY = 86_400_000;

export interface TestPki {
  readonly ca: KeyPair;
  readonly otherCa: KeyPair;
  /** For mx.dest.test and 127.0.0.1, signed by ca. */
  readonly good: KeyPair;
  readonly wrongName: KeyPair;
  readonly expired: KeyPair;
  /** For mx.dest.test, signed by otherCa. */
  readonly stranger: KeyPair;
}

let pki: Promise<TestPki> | undefined;

/** The test PKI, made once per test file. */
export function testPki(): Promise<TestPki> {
  pki ??= (async () => {
    const ca = await createTestCa();
    const otherCa = await createTestCa('someone else');
    return {
      ca,
      otherCa,
      good: await issueLeaf(ca, { names: [MX_NAME], ips: ['127.0.0.1'] }),
      wrongName: await issueLeaf(ca, { names: ['other.example'] }),
      expired: await issueLeaf(ca, { names: [MX_NAME], notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) }),
      stranger: await issueLeaf(otherCa, { names: [MX_NAME] }),
    };
  })();
  return pki;
}

export interface Run {
  readonly sink: SmtpSink;
  readonly id: string;
  readonly lines: Array<Record<string, unknown>>;
  /** The recipient's outcome in the first attempt. */
  readonly status: string;
  readonly reply: string;
  readonly enhanced: string;
  /** `relayguard queue show ID` on the spool once the runner has stopped ('' when the message left the spool). */
  readonly shown: string;
}

export interface AttemptOptions {
  /** The message declared REQUIRETLS at our front door. */
  readonly requireTls?: boolean;
  /** Deliver from the delivery worker thread, as `serve` does by default. */
  readonly worker?: boolean;
}

/**
 * One message from alice@sender.test to bob@dest.test through a sink started
 * with `sinkOptions`, under `delivery` (the [delivery] keys; SINK stands for
 * the sink's address, CA_FILE for the test CA's file). dest.test's MX (and
 * sender.test's, for bounces) is mx.dest.test at 127.0.0.2 on the sink's
 * port. A recipient that fails is bounced: the runner stops once the DSN
 * reached the sink.
 */
export async function attempt(t: TestContext, sinkOptions: SinkOptions, delivery: string, options: AttemptOptions = {}): Promise<Run> {
  const dir = await tempDir(t);
  const caFile = path.join(dir, 'ca.pem');
  await writeFile(caFile, (await testPki()).ca.cert);
  const sink = await startSmtpSink({ host: MX_ADDRESS, ...sinkOptions });
  t.after(() => sink.close());
  const dns = await startDnsServer();
  t.after(() => dns.close());
  for (const domain of ['dest.test', 'sender.test']) dns.add({ name: domain, type: 'MX', data: { preference: 10, exchange: MX_NAME } });
  dns.add({ name: MX_NAME, type: 'A', data: MX_ADDRESS });
  const text = delivery.replaceAll('SINK', sink.address).replaceAll('CA_FILE', JSON.stringify(caFile));
  const config = testConfig(
    path.join(dir, 'data'),
    `mx_port = ${sink.port}\nretry_schedule = ["1h"]\nconnect_timeout = "3s"\n${text}`,
    `[dns]\nservers = ["${dns.address}"]\ntimeout = "2s"\ntries = 1`,
  );
  const { logger, lines } = captureLogger();
  const spool = await openSpool({ dir: spoolDirOf(config), logger });
  const deliverer = options.worker ? createWorkerDeliverer({ config: delivererConfig(config), logger }) : undefined;
  const runner = startQueueRunner({ spool, config, logger, ...(deliverer ? { deliverer } : {}) });
  const events: DeliveryEvent[] = [];
  runner.subscribe((event) => events.push(event));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await runner.stop(2000);
    await spool.close();
  };
  t.after(stop);
  const esmtp = options.requireTls ? { esmtp: { requiretls: true as const } } : {};
  const id = await spool.accept(envelope({ recipients: ['bob@dest.test'], ...esmtp }), rfc822('tls levels'));
  const first = () => events.find((e): e is Extract<DeliveryEvent, { type: 'attempt' }> => e.type === 'attempt' && e.queueId === id);
  await waitFor(() => first() !== undefined, 10_000, 'the first attempt');
  const result = first()?.results[0];
  let state = (await spool.load(id))?.state;
  await waitFor(async () => (state = (await spool.load(id))?.state) === undefined || state.attempts >= 1, 5000, 'the attempt in the journal');
  if (result?.status === 'failed') await sink.waitFor(1);
  await stop();
  let shown = '';
  if (state) {
    const file = await writeConfig(dir, sink.address);
    const run = await queue(['show', id, '--config', file]);
    assert.equal(run.code, 0, run.err);
    shown = run.out;
  }
  return { sink, id, lines, status: result?.status ?? '', reply: result?.reply ?? '', enhanced: result?.enhanced ?? '', shown };
}

function attemptLine(run: Run): { status: string; reply: string } | undefined {
  const line = run.lines.find((l) => l.msg === 'delivery attempt' && l.queueId === run.id);
  return (line?.results as Array<{ status: string; reply: string }> | undefined)?.[0];
}

/** Deferred, nothing received upstream, and the same reason in the journal, `queue show` and the delivery log. */
export function assertDeferred(run: Run, reason: RegExp, enhanced: string): void {
  assert.equal(run.status, 'deferred');
  assert.match(run.reply, reason);
  assert.equal(run.enhanced, enhanced);
  assert.equal(run.sink.messages.length, 0, 'nothing reached the upstream');
  assert.ok(run.shown.includes(run.reply), `queue show names the reason:\n${run.shown}`);
  assert.equal(attemptLine(run)?.reply, run.reply, 'the delivery log line names the reason');
}

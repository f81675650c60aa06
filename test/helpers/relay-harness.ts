// The whole relay (startRelay, the composition root) in-process on loopback
// port 0, from a temp config directory, with a recording upstream sink as its
// smarthost. For end-to-end tests: real SMTP clients in, real SMTP out.
import { Writable } from 'node:stream';
import type { SmtpSink } from './smtp-sink.ts';
import { DEFAULT_LISTENERS, makeTestConfig, type TestConfigDir } from './test-config.ts';
import { startRelay, type Relay } from '../../src/main.ts';
import { createLogger } from '../../src/log/logger.ts';

export interface RelayHarness {
  readonly relay: Relay;
  readonly dir: TestConfigDir;
  /** Parsed JSON log lines so far. */
  readonly logs: Array<Record<string, unknown>>;
  port(listener: string): number;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  /** TOML appended to hostname/data_dir/policies_dir (listeners, [delivery], ...). */
  readonly config: string;
  readonly policies?: Record<string, string>;
  readonly logLevel?: string;
  /**
   * false: attempts run in the main thread ([delivery] worker = false), for
   * tests of what the front door decides. From the sources every delivery
   * worker registers tsx again, about 0.5 s of CPU per relay started; the
   * worker itself is tested in test/delivery/delivery-worker.test.ts, by
   * test/mail-flow, test/lifecycle and test/dashboard, and by every test that
   * runs `relayguard serve`.
   */
  readonly deliveryWorker?: boolean;
  /** The clock of account anomaly detection (startRelay's accountsClock): simulated hours of a user's mail. */
  readonly accountsClock?: () => number;
}

/** Listeners on 127.0.0.1:0 named mx, submission (STARTTLS) and submissions (implicit TLS), dashboard on port 0. */
export const HARNESS_LISTENERS = `${DEFAULT_LISTENERS}
[http]
address = "127.0.0.1:0"
`;

/** A [delivery] table sending everything to `sink` with short retries. */
export function smarthostTo(port: number, extra = ''): string {
  return `
[delivery]
mode = "smarthost"
retry_schedule = ["200ms", "400ms"]
${extra}
[delivery.smarthost]
hosts = ["127.0.0.1:${port}"]
tls = "opportunistic"
`;
}

/**
 * Tests that are not about the sender-domain check send from made-up domains
 * and must not depend on the machine's DNS: unless a test brings its own
 * checks.toml, the harness turns that one check off.
 */
const NO_SENDER_DOMAIN_CHECK = '[sender_domain]\nreject_unknown = false\n';

/** `worker = false` in the config's [delivery] table (added if there is none). */
function withoutDeliveryWorker(config: string): string {
  if (/^worker\s*=/m.test(config)) throw new Error('deliveryWorker: false, and the config sets [delivery] worker itself');
  return /^\[delivery\]$/m.test(config) ? config.replace(/^\[delivery\]$/m, '[delivery]\nworker = false') : `${config}\n[delivery]\nworker = false\n`;
}

export async function startHarness(options: HarnessOptions): Promise<RelayHarness> {
  const dir = await makeTestConfig(options.deliveryWorker === false ? withoutDeliveryWorker(options.config) : options.config, {
    'checks.toml': NO_SENDER_DOMAIN_CHECK,
    ...options.policies,
  });
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not JSON: ignore
        }
      }
      callback();
    },
  });
  const logger = createLogger(options.logLevel ?? 'info', destination);
  let relay: Relay;
  try {
    relay = await startRelay({ configFile: dir.configFile, logger, ...(options.accountsClock ? { accountsClock: options.accountsClock } : {}) });
  } catch (error) {
    await dir.cleanup();
    throw error;
  }
  return {
    relay,
    dir,
    logs,
    port(listener: string) {
      const bound = relay.smtp.find((entry) => entry.name === listener);
      if (!bound) throw new Error(`no listener named ${listener}`);
      return bound.port;
    },
    async stop() {
      await relay.stop();
      await dir.cleanup();
    },
  };
}

/** @deprecated test/helpers/wait-for.ts's waitFor under its old name, for tests written on other branches before it existed. */
export { waitFor as eventually } from './wait-for.ts';

/**
 * The traffic dashboard tests watch: one message accepted from 127.0.0.1 to a
 * local domain, and one relay attempt from "outside" (127.0.0.3) refused at
 * RCPT. Resolves with the refused RCPT's reply code.
 */
export async function sendAcceptedAndRefused(port: number, subject: string): Promise<number> {
  const { default: nodemailer } = await import('nodemailer');
  const { SmtpTalk } = await import('./smtp-talk.ts');
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  await transport.sendMail({ envelope: { from: 'alice@sender.test', to: ['bob@example.test'] }, raw: `Subject: ${subject}\r\n\r\nhi\r\n` });
  transport.close();
  const outsider = await SmtpTalk.connect({ port, localAddress: '127.0.0.3' });
  await outsider.read();
  await outsider.command('EHLO outside.test');
  await outsider.command('MAIL FROM:<x@outside.test>');
  const refused = await outsider.command('RCPT TO:<victim@foreign.test>');
  outsider.close();
  return refused.code;
}

/**
 * The relay the dashboard tests watch: its dashboard behind `token`, 127.0.0.1
 * in relay-networks, example.test local, delivering to a recording sink.
 * Both are stopped after the test.
 */
export async function startDashboardHarness(t: { after(fn: () => Promise<void>): void }, token: string): Promise<{ harness: RelayHarness; sink: SmtpSink }> {
  const { startSmtpSink } = await import('./smtp-sink.ts');
  const sink = await startSmtpSink();
  const config = HARNESS_LISTENERS.replace('[http]\naddress = "127.0.0.1:0"', `[http]\naddress = "127.0.0.1:0"\ntoken = "${token}"`) + smarthostTo(sink.port);
  const harness = await startHarness({ config, policies: { 'local-domains': 'example.test\n', 'relay-networks': '127.0.0.1\n' } });
  t.after(async () => {
    await harness.stop();
    await sink.close();
  });
  return { harness, sink };
}

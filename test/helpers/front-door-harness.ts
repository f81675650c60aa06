// A FrontDoor on real loopback sockets with a scripted driver and an
// in-memory intake, for tests of the SMTP transport itself (what policy and
// spool decide is tested with the real ones elsewhere). End of data is the
// real DATA rule list: the front door only measures the body.
import type { Readable } from 'node:stream';
import { FrontDoor } from '../../src/smtp/front-door.ts';
import type { SessionRecord, SessionStages } from '../../src/session/session-record.ts';
import type { Envelope, SpoolIntake } from '../../src/spool/types.ts';
import { testSnapshot } from './policy-snapshot.ts';
import { DecisionLog, type DecisionEvent } from '../../src/observability/decision-log.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { loadTlsMaterial } from '../../src/smtp/tls-material.ts';
import { permit, reject, dunno } from '../../src/policy/decision.ts';
import { evaluateData } from '../../src/policy/engine.ts';
import { createSessionContext, listenerInfo } from '../../src/policy/context.ts';
import { makeTestConfig, DEFAULT_LISTENERS } from './test-config.ts';
import type { Config } from '../../src/config/schema.ts';

export class MemoryIntake implements SpoolIntake {
  readonly messages: Array<{ id: string; envelope: Envelope; body: Buffer }> = [];
  #ids = 0;
  nextId(): string {
    return `Q${++this.#ids}`;
  }
  async accept(envelope: Envelope, message: Readable | Buffer, options?: { id?: string }): Promise<string> {
    const chunks: Buffer[] = [];
    if (Buffer.isBuffer(message)) chunks.push(message);
    else for await (const chunk of message) chunks.push(chunk as Buffer);
    const id = options?.id ?? this.nextId();
    this.messages.push({ id, envelope, body: Buffer.concat(chunks) });
    return id;
  }
}

/** Permits everything except recipients at refused.test, and records the session states it saw. */
export function scriptedPolicy(seen: SessionRecord[]): SessionStages {
  return {
    connect: async (s) => {
      seen.push(s);
      return dunno('connect', 'none');
    },
    auth: async () => ({ decision: reject('auth', 'test', 'auth.failed', { code: 535, enhanced: '5.7.8', text: 'Authentication credentials invalid' }) }),
    mail: async (_s, raw) => ({ decision: permit('mail', 'test', 'ok'), sender: raw.toLowerCase() }),
    rcpt: async (_s, raw) =>
      raw.endsWith('@refused.test')
        ? { decision: reject('rcpt', 'test', 'relay.denied', { code: 554, enhanced: '5.7.1', text: `<${raw}>: Relay access denied` }) }
        : { decision: permit('rcpt', 'test', 'rcpt.local_domain'), recipient: raw.toLowerCase() },
    data: async () => dunno('data', 'none'),
    endOfData: (s, message) => evaluateData(createSessionContext({ listener: listenerInfo(s.listener), clientIp: s.clientIp, tls: s.tls, hostname: 'relay.test', ourAddresses: [] }), s.snapshot, { message }),
    close: () => undefined,
  };
}

/** `snapshotSmtp`: [smtp] keys of the policy snapshot only (as after a reload), not of the door's own config. */
export async function startDoor(extraConfig = '', options: { snapshotSmtp?: Partial<Config['smtp']> } = {}) {
  const dir = await makeTestConfig(`${DEFAULT_LISTENERS}\n[[listeners]]\nname = "behind-lb"\naddress = "127.0.0.1:0"\nrole = "mx"\ntls = "none"\nproxy_protocol_from = ["127.0.0.9/32"]\n${extraConfig}`);
  const intake = new MemoryIntake();
  const events: DecisionEvent[] = [];
  const decisions = new DecisionLog();
  decisions.subscribe((e) => events.push(e));
  const seen: SessionRecord[] = [];
  const logger = silentLogger();
  const door = new FrontDoor({
    config: dir.config,
    currentSnapshot: () =>
      testSnapshot({
        config: options.snapshotSmtp ? { ...dir.config, smtp: { ...dir.config.smtp, ...options.snapshotSmtp } } : dir.config,
        relayNetworks: [],
        allowlist: [],
      }),
    driver: scriptedPolicy(seen),
    spool: intake,
    tls: await loadTlsMaterial(dir.config, logger),
    logger,
    decisions,
  });
  const bound = await door.listen();
  const port = (name: string) => (bound.find((b) => b.name === name) as { port: number }).port;
  return {
    door, intake, events, seen, port,
    async stop() {
      await door.close(200);
      await dir.cleanup();
    },
  };
}


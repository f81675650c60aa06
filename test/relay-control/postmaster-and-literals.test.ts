// Issue 16 items 3 and 4 over the wire (the whole relay, startRelay, real
// sockets, a real DNSBL answer from the test DNS server, a recording
// smarthost): our own address literals are refused with 550 5.7.1 from every
// client; the domainless <postmaster> (any case) is accepted from anyone and
// queued to the configured postmaster address (default postmaster@ the first
// local domain); postmaster@ a local domain is exempt from the DNSBL; a
// denylisted client stays refused at connect.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, eventually, smarthostTo, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { codeOf, greetingOf, message, openSession, transaction } from '../helpers/e2e-relay-client.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';

const OUTSIDE = '127.0.0.3';
const OFFICE = '127.0.0.1'; // relay-networks
const LISTED = '127.0.0.77'; // listed by bl.test
const DENIED = '127.0.0.66'; // denylist

const POLICIES = {
  'local-domains': 'example.test\nbücher.example\n',
  'relay-networks': `${OFFICE}\n`,
  denylist: `${DENIED}/32   known spam source\n`,
  'dnsbl.toml': 'threshold = 1\ncheck_private_clients = true\n\n[[zones]]\nzone = "bl.test"\n',
};

interface Relay {
  readonly harness: RelayHarness;
  readonly sink: SmtpSink;
}

async function startRelay(dns: TestDnsServer, extraConfig = ''): Promise<Relay> {
  const sink = await startSmtpSink();
  const config = `${extraConfig}\n${HARNESS_LISTENERS}\n[dns]\nservers = ["${dns.address}"]\ntimeout = "1s"\ntries = 2\n${smarthostTo(sink.port)}`;
  const harness = await startHarness({ config, policies: POLICIES });
  return { harness, sink };
}

function rcptDecisions(harness: RelayHarness, client: string): Array<Record<string, unknown>> {
  return harness.logs.filter((l) => l.stage === 'rcpt' && l.client === client && typeof l.decision === 'string');
}

function queuedTo(harness: RelayHarness, client: string): unknown[] {
  return harness.logs
    .filter((l) => l.msg === 'decision' && l.reason === 'data.queued' && l.client === client)
    .map((l) => (l.detail as { to?: unknown } | undefined)?.to);
}

describe('issue 16 over the wire: our own literals and postmaster', () => {
  let dns: TestDnsServer;
  let relay: Relay;

  before(async () => {
    dns = await startDnsServer();
    dns.add({ name: '77.0.0.127.bl.test', type: 'A', data: '127.0.0.2' });
    dns.add({ name: '2.0.0.127.bl.test', type: 'A', data: '127.0.0.2' }); // the RFC 5782 test entry the health probe wants
    relay = await startRelay(dns);
  });

  after(async () => {
    await relay?.harness.stop();
    await relay?.sink.close();
    await dns?.close();
  });

  it('refuses our own address literals with 550 5.7.1, from outside and from a relay network; nothing is queued for them', async () => {
    const { harness, sink } = relay;
    const before = sink.messages.length;
    for (const client of [OUTSIDE, OFFICE]) {
      const talk = await openSession({ port: harness.port('mx'), from: client });
      try {
        const rcpts = ['<frank@[127.0.0.1]>', '<grace@[IPv6:::ffff:127.0.0.1]>', '<postmaster@[127.0.0.1]>', `<marker-${client}@example.test>`];
        const sent = await transaction(talk, '<someone@example.test>', rcpts, message(`literal-${client}`));
        assert.deepEqual(sent.rcpt.map(codeOf), ['550 5.7.1', '550 5.7.1', '550 5.7.1', '250 2.1.5'], `${client}: ${sent.rcpt.map((r) => r.lines[0]).join(' | ')}`);
        assert.match(sent.rcpt[0]?.lines[0] ?? '', /Address literals are not accepted here/);
        assert.match(sent.queued?.lines[0] ?? '', /^250 2\.0\.0 Ok: queued as /);
      } finally {
        talk.close();
      }
      const refused = rcptDecisions(harness, client).filter((l) => l.decision === 'reject');
      assert.deepEqual(refused.map((l) => `${String(l.rule)} ${String(l.reason)}`), Array(3).fill('own-literal rcpt.address_literal'));
      assert.deepEqual(queuedTo(harness, client), [[`marker-${client}@example.test`]], 'only the marker is in the spooled envelope');
    }
    await sink.waitFor(before + 2);
    const arrived = sink.messages.slice(before).flatMap((m) => m.to);
    assert.ok(!arrived.some((to) => to.includes('[')), `no literal reached the next hop: ${arrived.join(', ')}`);
  });

  it('accepts the domainless postmaster in every spelling from outside and queues it to postmaster@ the first local domain', async () => {
    const { harness, sink } = relay;
    const before = sink.messages.length;
    // (RCPT TO:postmaster without brackets is not RFC 5321 syntax; smtp-server answers it 501 before the policy)
    const spellings = ['<postmaster>', '<POSTMASTER>', '<PostMaster>', ' <postmaster>', '<postmaster> NOTIFY=NEVER'];
    const talk = await openSession({ port: harness.port('mx'), from: OUTSIDE });
    try {
      for (const spelling of spellings) {
        const sent = await transaction(talk, '<tester@outside.test>', [spelling], message(`postmaster-${spellings.indexOf(spelling)}`));
        assert.deepEqual(sent.rcpt.map(codeOf), ['250 2.1.5'], `${JSON.stringify(spelling)}: ${sent.rcpt.map((r) => r.lines[0]).join(' | ')}`);
        assert.match(sent.queued?.lines[0] ?? '', /^250 2\.0\.0 Ok: queued as /);
      }
    } finally {
      talk.close();
    }
    const decided = rcptDecisions(harness, OUTSIDE).filter((l) => l.reason === 'rcpt.postmaster');
    assert.equal(decided.length, spellings.length);
    assert.ok(decided.every((l) => l.rule === 'postmaster' && l.decision === 'permit'));
    const queued = queuedTo(harness, OUTSIDE).slice(-spellings.length);
    assert.deepEqual(queued, spellings.map(() => ['postmaster@example.test']), 'the spooled envelope holds the rewritten address');
    await sink.waitFor(before + spellings.length);
    assert.deepEqual(sink.messages.slice(before).map((m) => m.to), spellings.map(() => ['postmaster@example.test']));
  });

  it('a DNSBL-listed client is refused for other recipients but may write to postmaster, bare or at a local domain', async () => {
    const { harness, sink } = relay;
    const before = sink.messages.length;
    const talk = await openSession({ port: harness.port('mx'), from: LISTED });
    try {
      const rcpts = ['<user@example.test>', '<postmaster>', '<Postmaster@Example.Test>', '<postmaster@bücher.example>', '<abuse@example.test>'];
      // SMTPUTF8: a U-label domain needs it since issue 21 (RFC 6531).
      const sent = await transaction(talk, '<listed@outside.test> SMTPUTF8', rcpts, message('listed-complains'));
      assert.deepEqual(sent.rcpt.map(codeOf), ['554 5.7.1', '250 2.1.5', '250 2.1.5', '250 2.1.5', '554 5.7.1'], sent.rcpt.map((r) => r.lines[0]).join(' | '));
      assert.match(sent.queued?.lines[0] ?? '', /^250 2\.0\.0 Ok: queued as /);
    } finally {
      talk.close();
    }
    assert.deepEqual(
      rcptDecisions(harness, LISTED).map((l) => String(l.reason)),
      ['dnsbl.listed', 'rcpt.postmaster', 'rcpt.local_domain', 'rcpt.local_domain', 'dnsbl.listed'],
    );
    assert.deepEqual(queuedTo(harness, LISTED), [['postmaster@example.test', 'Postmaster@example.test', 'postmaster@xn--bcher-kva.example']]);
    await sink.waitFor(before + 1);
  });

  it('a denylisted client stays refused at connect: postmaster waives only the RCPT-stage anti-spam rules', async () => {
    const { reply, closedAfter } = await greetingOf(relay.harness.port('mx'), DENIED);
    assert.equal(reply?.code, 554);
    assert.ok(closedAfter, 'the connection is closed after the refusal');
  });

  it('config.toml postmaster = "..." is where the domainless postmaster goes', async () => {
    const configured = await startRelay(dns, 'postmaster = "hostmaster@bücher.example"'.replace('bücher.example', 'xn--bcher-kva.example'));
    try {
      const talk = await openSession({ port: configured.harness.port('mx'), from: OUTSIDE });
      try {
        const sent = await transaction(talk, '<tester@outside.test>', ['<postmaster>'], message('configured-postmaster'));
        assert.deepEqual(sent.rcpt.map(codeOf), ['250 2.1.5']);
        assert.match(sent.queued?.lines[0] ?? '', /^250 2\.0\.0 Ok: queued as /);
      } finally {
        talk.close();
      }
      assert.deepEqual(queuedTo(configured.harness, OUTSIDE), [['hostmaster@xn--bcher-kva.example']]);
      await configured.sink.waitFor(1);
      await eventually(() => configured.harness.relay.spool.stats().size === 0, 10_000, 'the spool drains');
      assert.deepEqual(configured.sink.messages.map((m) => m.to.map((a) => a.replace('@bücher.example', '@xn--bcher-kva.example'))), [['hostmaster@xn--bcher-kva.example']]);
    } finally {
      await configured.harness.stop();
      await configured.sink.close();
    }
  });
});

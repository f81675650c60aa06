// Issue 16 item 1 (live half) over the wire: the whole relay with
// [recipient_verification] on, in front of a real smtp-server upstream (the
// smarthost) that refuses some local parts with 550 and answers 451 or
// nothing at all to others. Probes are the upstream's RCPTs from the null
// sender <>; the test messages come from a real sender, so they are told apart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, smarthostTo, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { codeOf, message, openSession, transaction } from '../helpers/e2e-relay-client.ts';
import { waitFor } from '../helpers/wait-for.ts';
import type { SmtpTalk } from '../helpers/smtp-talk.ts';

const OUTSIDE = '127.0.0.3';
const OFFICE = '127.0.0.1'; // relay-networks

const POLICIES = {
  'local-domains': 'example.test\ndown.test\n',
  'relay-networks': `${OFFICE}\n`,
};

function probesOf(sink: SmtpSink, to: string): number {
  return sink.rcpts.filter((r) => r.from === '' && r.to === to).length;
}

function queuedTo(harness: RelayHarness, client: string): unknown[] {
  return harness.logs
    .filter((l) => l.msg === 'decision' && l.reason === 'data.queued' && l.client === client)
    .map((l) => (l.detail as { to?: unknown } | undefined)?.to);
}

/** A port nothing listens on (a sink started and closed again). */
async function closedPort(): Promise<number> {
  const gone = await startSmtpSink();
  await gone.close();
  return gone.port;
}

function verificationConfig(sinkPort: number, downPort: number, timeout: string): string {
  return `${HARNESS_LISTENERS}
${smarthostTo(sinkPort)}
[[delivery.routes]]
domains = ["down.test"]
hosts = ["127.0.0.1:${downPort}"]
tls = "none"

[recipient_verification]
enabled = true
timeout = "${timeout}"
command_timeout = "3s"
connections_per_hop = 2
`;
}

describe('issue 16 item 1 over the wire: live recipient verification against the next hop', () => {
  let sink: SmtpSink;
  let harness: RelayHarness;

  before(async () => {
    sink = await startSmtpSink();
    sink.rcptReply('nobody@example.test', '550 5.1.1 <nobody@example.test>: no such user');
    sink.rcptReply('busy@example.test', '451 4.3.0 try again later');
    harness = await startHarness({ config: verificationConfig(sink.port, await closedPort(), '1s'), policies: POLICIES, deliveryWorker: false });
  });

  after(async () => {
    await harness?.stop();
    await sink?.close();
  });

  it('unknown at the next hop: 550 5.1.1 at RCPT, nothing queued; known: delivered; the second ask is a cache hit', async () => {
    const talk = await openSession({ port: harness.port('mx'), from: OUTSIDE });
    try {
      const unknown = await transaction(talk, '<someone@other.test>', ['<nobody@example.test>'], message('probe-unknown'));
      assert.deepEqual(unknown.rcpt.map(codeOf), ['550 5.1.1']);
      assert.equal(unknown.rcpt[0]?.lines[0], '550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown');
      assert.equal(unknown.queued, undefined);
      const known = await transaction(talk, '<someone@other.test>', ['<alice@example.test>'], message('probe-known'));
      assert.deepEqual(known.rcpt.map(codeOf), ['250 2.1.5']);
      assert.match(known.queued?.lines[0] ?? '', /^250 2\.0\.0 Ok: queued as /);
    } finally {
      talk.close();
    }
    await sink.waitFor(1);
    assert.deepEqual(sink.messages.map((m) => m.to), [['alice@example.test']]);
    assert.deepEqual(queuedTo(harness, OUTSIDE), [['alice@example.test']], 'nothing queued for the unknown user');
    assert.equal(probesOf(sink, 'nobody@example.test'), 1);
    assert.equal(probesOf(sink, 'alice@example.test'), 1);

    // Again, in a new session: both answers come from the cache, no second probe.
    const again = await openSession({ port: harness.port('mx'), from: OUTSIDE });
    try {
      const mail = await again.command('MAIL FROM:<someone@other.test>');
      assert.equal(mail.code, 250);
      assert.equal(codeOf(await again.command('RCPT TO:<nobody@example.test>')), '550 5.1.1');
      assert.equal(codeOf(await again.command('RCPT TO:<alice@example.test>')), '250 2.1.5');
    } finally {
      again.close();
    }
    assert.equal(probesOf(sink, 'nobody@example.test'), 1, 'negative answer cached');
    assert.equal(probesOf(sink, 'alice@example.test'), 1, 'positive answer cached');
    const refused = harness.logs.filter((l) => l.msg === 'decision' && l.rule === 'recipient_probe' && l.decision === 'reject');
    assert.ok(refused.length >= 2);
    assert.equal((refused[0]?.detail as { source?: string }).source, 'next_hop');
    assert.equal(harness.relay.verifier.stats.hits >= 2, true);
  });

  it('451 at the next hop, next hop down, next hop that never answers: 450 4.1.1 at RCPT within the time budget', async () => {
    const talk = await openSession({ port: harness.port('mx'), from: OUTSIDE });
    try {
      assert.equal((await talk.command('MAIL FROM:<someone@other.test>')).code, 250);
      const busy = await talk.command('RCPT TO:<busy@example.test>');
      assert.equal(codeOf(busy), '450 4.1.1');
      assert.match(busy.lines[0] ?? '', /Recipient address rejected: unverified address/);
      const down = await talk.command('RCPT TO:<someone@down.test>');
      assert.equal(codeOf(down), '450 4.1.1');
      sink.rcptHang('slow@example.test', true);
      const started = Date.now();
      const slow = await talk.command('RCPT TO:<slow@example.test>');
      const took = Date.now() - started;
      assert.equal(codeOf(slow), '450 4.1.1');
      assert.match(slow.lines[0] ?? '', /Address verification in progress/);
      assert.ok(took >= 900 && took < 2900, `answered after ${took} ms (budget 1 s)`);
      const none = await talk.command('DATA');
      assert.equal(none.code, 503, 'no valid recipients: nothing to queue');
    } finally {
      sink.rcptHang('slow@example.test', false);
      talk.close();
    }
    // 4xx answers are never cached: the next RCPT asks again.
    const before = probesOf(sink, 'busy@example.test');
    const again = await openSession({ port: harness.port('mx'), from: OUTSIDE });
    try {
      await again.command('MAIL FROM:<someone@other.test>');
      assert.equal(codeOf(await again.command('RCPT TO:<busy@example.test>')), '450 4.1.1');
    } finally {
      again.close();
    }
    assert.equal(probesOf(sink, 'busy@example.test'), before + 1);
    assert.deepEqual(queuedTo(harness, OUTSIDE).length, 1, 'only the known user of the first test was queued');
  });

  it('relay-networks clients and postmaster are not probed', async () => {
    const talk = await openSession({ port: harness.port('mx'), from: OFFICE });
    try {
      await talk.command('MAIL FROM:<clerk@example.test>');
      assert.equal(codeOf(await talk.command('RCPT TO:<nobody-office@example.test>')), '250 2.1.5');
    } finally {
      talk.close();
    }
    const outside = await openSession({ port: harness.port('mx'), from: OUTSIDE });
    try {
      await outside.command('MAIL FROM:<someone@other.test>');
      assert.equal(codeOf(await outside.command('RCPT TO:<Postmaster@example.test>')), '250 2.1.5');
    } finally {
      outside.close();
    }
    assert.equal(probesOf(sink, 'nobody-office@example.test'), 0);
    assert.equal(probesOf(sink, 'Postmaster@example.test'), 0);
  });
});

describe('issue 16 item 1: 200 concurrent RCPTs for one new address cost one probe', () => {
  let sink: SmtpSink;
  let harness: RelayHarness;

  before(async () => {
    sink = await startSmtpSink();
    // 200 sessions from one client address: no per-IP connection cap for this test.
    const policies = { ...POLICIES, 'limits.toml': '[ip]\nmax_connections = 0\nconnections = "1000/1m"\n' };
    harness = await startHarness({ config: verificationConfig(sink.port, await closedPort(), '30s'), policies, deliveryWorker: false });
  });

  after(async () => {
    await harness?.stop();
    await sink?.close();
  });

  it('200 client sessions ask at once; the upstream sees one RCPT; all get 250', async () => {
    const sessions: SmtpTalk[] = [];
    try {
      for (let batch = 0; batch < 200; batch += 50) {
        const opened = await Promise.all(Array.from({ length: 50 }, () => openSession({ port: harness.port('mx'), from: OUTSIDE, timeoutMs: 30_000 })));
        sessions.push(...opened);
      }
      const mails = await Promise.all(sessions.map((talk) => talk.command('MAIL FROM:<someone@other.test>')));
      assert.ok(mails.every((m) => m.code === 250));
      // The upstream holds its answer until every RCPT has joined the probe in flight.
      sink.rcptHang('newcomer@example.test', true);
      const replies = Promise.all(sessions.map((talk) => talk.command('RCPT TO:<newcomer@example.test>')));
      const stats = harness.relay.verifier.stats;
      await waitFor(() => stats.shared >= 199 && probesOf(sink, 'newcomer@example.test') === 1, 20_000, () => `shared ${stats.shared}, probes ${probesOf(sink, 'newcomer@example.test')}`);
      sink.rcptHang('newcomer@example.test', false);
      const answers = await replies;
      assert.deepEqual([...new Set(answers.map(codeOf))], ['250 2.1.5']);
      assert.equal(probesOf(sink, 'newcomer@example.test'), 1);
      assert.equal(stats.probes, 1);
    } finally {
      for (const talk of sessions) talk.close();
    }
  });
});

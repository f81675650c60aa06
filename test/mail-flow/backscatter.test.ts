// Issue 16 item 2 over the wire: with recipient verification on, a recipient
// the backend accepted at RCPT (probe) and refuses at delivery is logged and
// counted, and under the default dsn_after_accept = "checked_sender" an
// untrusted client's sender that did not pass the DNSBL checks gets no DSN
// (no backscatter); a relay-networks sender still gets its bounce.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, smarthostTo, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { codeOf, message, openSession, transaction } from '../helpers/e2e-relay-client.ts';
import { waitFor } from '../helpers/wait-for.ts';

const OUTSIDE = '127.0.0.3';
const OFFICE = '127.0.0.1';

describe('issue 16 item 2: a backend refusal after we accepted', () => {
  let sink: SmtpSink;
  let harness: RelayHarness;
  const removed = new Map<string, string>();

  before(async () => {
    sink = await startSmtpSink();
    harness = await startHarness({
      config: `${HARNESS_LISTENERS}\n${smarthostTo(sink.port)}\n[recipient_verification]\nenabled = true\ntimeout = "5s"\n`,
      policies: { 'local-domains': 'example.test\n', 'relay-networks': `${OFFICE}\n` },
      deliveryWorker: false,
    });
    harness.relay.runner.subscribe((event) => {
      if (event.type === 'removed') removed.set(event.queueId, event.reason);
    });
  });

  after(async () => {
    await harness?.stop();
    await sink?.close();
  });

  const queueIdOf = (reply: string | undefined): string => /queued as (\S+)/.exec(reply ?? '')?.[1] ?? '(none)';

  it('untrusted client, sender not DNSBL-checked: refusal logged and counted, no DSN', async () => {
    const talk = await openSession({ port: harness.port('mx'), from: OUTSIDE });
    let queueId = '';
    try {
      assert.equal((await talk.command('MAIL FROM:<forged@victim.test>')).code, 250);
      // The probe says yes...
      assert.equal(codeOf(await talk.command('RCPT TO:<leaver@example.test>')), '250 2.1.5');
      // ...and by delivery time the user is gone.
      sink.rcptReply('leaver@example.test', '550 5.1.1 <leaver@example.test>: user deleted');
      assert.equal((await talk.command('DATA')).code, 354);
      const queued = await talk.command(`${message('after-accept')}\r\n.`);
      assert.equal(queued.code, 250);
      queueId = queueIdOf(queued.lines[0]);
    } finally {
      talk.close();
    }
    await waitFor(() => removed.has(queueId), 10_000, `message ${queueId} leaves the spool`);
    assert.equal(removed.get(queueId), 'failed');
    const line = harness.logs.find((l) => l.event === 'delivery.refused_after_accept' && l.queueId === queueId);
    assert.ok(line, 'the refusal is logged');
    assert.equal(line.dsn, false);
    assert.equal(line.why, 'unchecked_sender');
    const stats = harness.relay.runner.stats();
    assert.equal(stats.refusedAfterAccept, 1);
    assert.equal(stats.dsnSuppressed, 1);
    assert.equal(stats.bounces, 0, 'no DSN queued');
    assert.equal(sink.messages.filter((m) => m.from === '').length, 0);
    // The dashboard shows it, /metrics counts it.
    const metrics = await (await fetch(`http://127.0.0.1:${harness.relay.http?.port}/metrics`)).text();
    assert.match(metrics, /^relayguard_backend_refused_after_accept_total 1$/m);
    assert.match(metrics, /^relayguard_dsn_suppressed_total 1$/m);
    assert.match(metrics, /^relayguard_recipient_probes_total\{result="accepted"\} 1$/m);
    const status = (await (await fetch(`http://127.0.0.1:${harness.relay.http?.port}/api/status`)).json()) as { verification: { refusedAfterAccept: number } };
    assert.equal(status.verification.refusedAfterAccept, 1);
  });

  it('relay-networks client: not verified, and its sender gets the bounce', async () => {
    sink.rcptReply('gone@example.test', '550 5.1.1 <gone@example.test>: no such user');
    const talk = await openSession({ port: harness.port('mx'), from: OFFICE });
    let queueId = '';
    try {
      const sent = await transaction(talk, '<clerk@example.test>', ['<gone@example.test>'], message('office-bounce'));
      assert.deepEqual(sent.rcpt.map(codeOf), ['250 2.1.5']);
      queueId = queueIdOf(sent.queued?.lines[0]);
    } finally {
      talk.close();
    }
    // The DSN is queued before the message leaves the spool, and may arrive first: wait for both.
    await waitFor(() => removed.has(queueId) && sink.messages.some((m) => m.from === '' && m.to.includes('clerk@example.test')), 10_000, 'the DSN reaches the office sender');
    assert.equal(removed.get(queueId), 'failed');
    assert.equal(harness.logs.some((l) => l.event === 'delivery.refused_after_accept' && l.queueId === queueId), false, 'a trusted client is not what the counter counts');
    assert.equal(sink.rcpts.filter((r) => r.from === '' && r.to === 'gone@example.test').length, 0, 'no probe for a trusted client');
  });
});

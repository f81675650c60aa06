// Issue 16 item 1 (static half) over the wire: the whole relay with a
// policies/recipients file and a recording smarthost. From an outside client
// an unknown user of a verified domain gets 550 5.1.1 at RCPT and nothing is
// queued; a listed user and any user of a catch-all domain are delivered; a
// relay-networks client is not verified.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, smarthostTo, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { codeOf, message, openSession, transaction } from '../helpers/e2e-relay-client.ts';

const OUTSIDE = '127.0.0.3';
const OFFICE = '127.0.0.1'; // relay-networks

const POLICIES = {
  'local-domains': 'example.test\ncatchall.test\n',
  'relay-networks': `${OFFICE}\n`,
  recipients: '# verified: example.test\nAlice@example.test\n@catchall.test\n',
  'checks.toml': '[sender_domain]\nreject_unknown = false\n',
};

function queuedTo(harness: RelayHarness, client: string): unknown[] {
  return harness.logs
    .filter((l) => l.msg === 'decision' && l.reason === 'data.queued' && l.client === client)
    .map((l) => (l.detail as { to?: unknown } | undefined)?.to);
}

describe('issue 16 item 1 over the wire: static recipient verification', () => {
  let sink: SmtpSink;
  let harness: RelayHarness;

  before(async () => {
    sink = await startSmtpSink();
    harness = await startHarness({ config: `${HARNESS_LISTENERS}\n${smarthostTo(sink.port)}`, policies: POLICIES });
  });

  after(async () => {
    await harness?.stop();
    await sink?.close();
  });

  it('outside client: unknown user 550 5.1.1 and nothing queued; listed and catch-all users delivered', async () => {
    const talk = await openSession({ port: harness.port('mx'), from: OUTSIDE });
    try {
      const unknown = await transaction(talk, '<someone@other.test>', ['<carol@example.test>'], message('unknown'));
      assert.deepEqual(unknown.rcpt.map(codeOf), ['550 5.1.1']);
      assert.equal(unknown.rcpt[0]?.lines[0], '550 5.1.1 <carol@example.test>: Recipient address rejected: User unknown');
      assert.equal(unknown.queued, undefined);
      assert.deepEqual(queuedTo(harness, OUTSIDE), [], 'nothing queued for the unknown user');
      const known = await transaction(talk, '<someone@other.test>', ['<ALICE@example.test>', '<anyone@catchall.test>', '<dave@example.test>'], message('known'));
      assert.deepEqual(known.rcpt.map(codeOf), ['250 2.1.5', '250 2.1.5', '550 5.1.1']);
      assert.match(known.queued?.lines[0] ?? '', /^250 2\.0\.0 Ok: queued as /);
    } finally {
      talk.close();
    }
    assert.deepEqual(queuedTo(harness, OUTSIDE), [['ALICE@example.test', 'anyone@catchall.test']]);
    await sink.waitFor(1);
    assert.deepEqual(sink.messages.map((m) => [...m.to].sort()), [['ALICE@example.test', 'anyone@catchall.test']]);
    const refused = harness.logs.filter((l) => l.stage === 'rcpt' && l.client === OUTSIDE && l.decision === 'reject');
    assert.deepEqual(refused.map((l) => `${String(l.rule)} ${String(l.reason)}`), ['recipients rcpt.unknown_user', 'recipients rcpt.unknown_user']);
  });

  it('relay-networks client: not verified, an unlisted user is accepted and delivered', async () => {
    const before = sink.messages.length;
    const talk = await openSession({ port: harness.port('mx'), from: OFFICE });
    try {
      const sent = await transaction(talk, '<clerk@example.test>', ['<carol@example.test>'], message('office'));
      assert.deepEqual(sent.rcpt.map(codeOf), ['250 2.1.5']);
      assert.match(sent.queued?.lines[0] ?? '', /^250 2\.0\.0 Ok: queued as /);
    } finally {
      talk.close();
    }
    await sink.waitFor(before + 1);
    assert.deepEqual(sink.messages.slice(before).map((m) => m.to), [['carol@example.test']]);
  });
});

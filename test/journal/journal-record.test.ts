// The journal records the local address a client reached when it is not the
// listener's own (a wildcard listener), and a replay uses it: a recipient at
// that address literal is ours and refused then and now.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeSession, type JournalRecord } from '../../src/journal/journal-record.ts';
import { Replayer } from '../../src/journal/replay.ts';
import type { SessionRecord } from '../../src/session/session-record.ts';
import { testSnapshot } from '../helpers/policy-snapshot.ts';

const snapshot = testSnapshot();
const listener = { ...snapshot.config.listeners[0]!, name: 'mx', authOffered: false };

function session(localIp: string): SessionRecord {
  return {
    sessionId: 'literal1',
    listener,
    clientIp: '192.0.2.9',
    clientPort: 40000,
    peerIp: '192.0.2.9',
    localIp,
    localPort: 25,
    connectedAt: 1_700_000_000_000,
    snapshot,
    tls: false,
    esmtp: true,
    recipients: [],
    rejectedRecipients: 0,
    errors: 0,
    messages: 0,
    steps: [
      { call: 'connect', facts: {}, decisions: [{ verdict: 'dunno', stage: 'connect', rule: 'connect', reason: 'ok' }] },
      { call: 'mail', input: 'a@sender.example', tls: false, helo: 'client.example', esmtp: true, facts: {}, decisions: [{ verdict: 'permit', stage: 'mail', rule: 'default', reason: 'ok' }] },
      { call: 'rcpt', input: 'postmaster@[198.51.100.25]', facts: {}, decisions: [{ verdict: 'reject', stage: 'rcpt', rule: 'own-literal', reason: 'rcpt.address_literal' }] },
    ],
  };
}

test('the local address is journaled when it is not the listener\'s, and replay judges literals by it', async () => {
  const record = encodeSession(session('198.51.100.25'), 1_700_000_000_100) as JournalRecord;
  assert.equal(record.li, '198.51.100.25');
  assert.equal(encodeSession(session(listener.address.host), 1_700_000_000_100)?.li, undefined, 'not when it is the listener address');
  const replay = await new Replayer(snapshot).replay(record);
  const rcpt = replay.calls[2]?.replayed?.at(-1);
  assert.equal(`${rcpt?.verdict} ${rcpt?.rule} ${rcpt?.reason}`, 'reject own-literal rcpt.address_literal');
  // Without the recorded address the literal is not ours: judged otherwise (the blind spot this closes).
  const { li: _li, ...unrecorded } = record;
  const before = (await new Replayer(snapshot).replay(unrecorded as JournalRecord)).calls[2]?.replayed?.at(-1);
  assert.notEqual(before?.rule, 'own-literal');
});

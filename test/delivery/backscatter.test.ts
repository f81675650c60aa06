// Which failed recipients get a DSN (delivery/backscatter.ts, issue 16 item 2).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chooseBounces, type DsnAfterAccept } from '../../src/delivery/backscatter.ts';
import type { StoredEnvelope } from '../../src/spool/spool-file.ts';
import type { MessageOrigin } from '../../src/spool/types.ts';
import { localFailure, outcomeOfReply } from '../../src/delivery/smtp-reply.ts';

const refused = outcomeOfReply('gone@example.test', '550 5.1.1 no such user', 'backend[192.0.2.25]:25');
const expired = { ...outcomeOfReply('slow@example.test', '451 4.3.0 later', 'backend[192.0.2.25]:25'), status: 'failed' as const, reply: 'delivery time expired; last error: 451 4.3.0 later' };
const local = localFailure('x@nullmx.test', 'null MX', '5.1.10');

function envelope(origin?: MessageOrigin): StoredEnvelope {
  return { id: 'q1', sender: 'someone@other.test', recipients: ['gone@example.test'], clientIp: '192.0.2.9', helo: 'h', listener: 'mx', receivedAt: 0, ...(origin ? { origin } : {}) };
}

const untrusted = (dnsblPassed: boolean, senderDomainResolves: boolean): MessageOrigin => ({ trusted: false, dnsblPassed, senderDomainResolves, verified: true });

type Row = readonly [name: string, origin: MessageOrigin | undefined, setting: DsnAfterAccept, unknownLocal: boolean, bounced: number, counted: number, why?: string];

const ROWS: readonly Row[] = [
  ['checked sender: DNSBL passed and domain resolves', untrusted(true, true), 'checked_sender', false, 1, 1],
  ['not DNSBL-checked', untrusted(false, true), 'checked_sender', false, 0, 1, 'unchecked_sender'],
  ['domain did not resolve', untrusted(true, false), 'checked_sender', false, 0, 1, 'unchecked_sender'],
  ['always', untrusted(false, false), 'always', false, 1, 1],
  ['never, even for a checked sender', untrusted(true, true), 'never', false, 0, 1, 'setting_never'],
  ['trusted client: always its bounce', { trusted: true, dnsblPassed: false, senderDomainResolves: false, verified: true }, 'never', false, 1, 0],
  ['verification was off at accept: as before', { ...untrusted(false, false), verified: false }, 'checked_sender', false, 1, 0],
  ['spool file from before the field: as before', undefined, 'checked_sender', false, 1, 0],
  ['a local sender that does not exist: never, whatever the setting', untrusted(true, true), 'always', true, 0, 1, 'unknown_local_sender'],
];

describe('chooseBounces', () => {
  for (const [name, origin, setting, unknownLocal, bounced, counted, why] of ROWS) {
    it(name, () => {
      const choice = chooseBounces(envelope(origin), [refused], setting, unknownLocal);
      assert.equal(choice.bounce.length, bounced);
      assert.equal(choice.refusedAfterAccept.length, counted);
      assert.equal(choice.why, why);
    });
  }

  it('expiries and local failures are not backend refusals: they bounce as before', () => {
    const choice = chooseBounces(envelope(untrusted(false, false)), [refused, expired, local], 'checked_sender', false);
    assert.deepEqual(choice.refusedAfterAccept.map((r) => r.recipient), ['gone@example.test']);
    assert.deepEqual(choice.bounce.map((r) => r.recipient), ['slow@example.test', 'x@nullmx.test']);
    assert.deepEqual(choice.suppressed.map((r) => r.recipient), ['gone@example.test']);
  });
});

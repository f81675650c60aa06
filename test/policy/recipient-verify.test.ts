// The RCPT decision with static recipient verification (policies/recipients):
// a verified local domain refuses unlisted local parts with 550 5.1.1 from
// outside clients; relay networks, authenticated users, postmaster, catch-all
// and unverified domains are not verified.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateRcpt, prepareRcpt } from '../../src/policy/engine.ts';
import type { ReasonCode, Verdict } from '../../src/policy/decision.ts';
import { testSnapshot } from '../helpers/policy-snapshot.ts';
import { SUBMISSION, sessionWithSender, type SessionOptions } from '../helpers/policy-session.ts';

const snapshot = testSnapshot({
  localDomains: ['example.test', 'catchall.test', 'open.test'],
  recipients: ['alice@example.test', 'Bob@Example.Test', '@catchall.test', 'someone@foreign.test'],
});

const OUTSIDE = { ip: '192.0.2.200' };
const TRUSTED = { ip: '10.1.2.3' };
const AUTHED = { ip: '192.0.2.200', user: 'alice', listener: SUBMISSION };

type Row = readonly [name: string, client: SessionOptions, rcpt: string, verdict: Verdict, reason: ReasonCode, rule: string, reply?: string];

const UNKNOWN = (addr: string): string => `550 5.1.1 <${addr}>: Recipient address rejected: User unknown`;

const ROWS: readonly Row[] = [
  ['listed address', OUTSIDE, '<alice@example.test>', 'permit', 'rcpt.local_domain', 'recipients'],
  ['listed, other case and trailing dot', OUTSIDE, '<ALICE@EXAMPLE.TEST.>', 'permit', 'rcpt.local_domain', 'recipients'],
  ['listed in the file in upper case', OUTSIDE, '<bob@example.test>', 'permit', 'rcpt.local_domain', 'recipients'],
  ['unknown user in a verified domain', OUTSIDE, '<carol@example.test>', 'reject', 'rcpt.unknown_user', 'recipients', UNKNOWN('carol@example.test')],
  ['quoted local part of a listed user', OUTSIDE, '<"alice"@example.test>', 'permit', 'rcpt.local_domain', 'recipients'],
  ['postmaster of a verified domain', OUTSIDE, '<Postmaster@example.test>', 'permit', 'rcpt.local_domain', 'local-domains'],
  ['catch-all domain', OUTSIDE, '<anyone@catchall.test>', 'permit', 'rcpt.local_domain', 'recipients'],
  ['local domain not in the file: not verified', OUTSIDE, '<anyone@open.test>', 'permit', 'rcpt.local_domain', 'local-domains'],
  ['listed but not a local domain: still relaying', OUTSIDE, '<someone@foreign.test>', 'reject', 'relay.denied', 'reject-relay'],
  ['relay network: not verified', TRUSTED, '<carol@example.test>', 'permit', 'rcpt.local_domain', 'local-domains'],
  ['authenticated user: not verified', AUTHED, '<carol@example.test>', 'permit', 'rcpt.local_domain', 'local-domains'],
];

describe('RCPT with policies/recipients', () => {
  for (const [name, client, rcpt, verdict, reason, rule, reply] of ROWS) {
    it(name, () => {
      const ctx = sessionWithSender(client, snapshot);
      const prepared = prepareRcpt(ctx, snapshot, { address: rcpt });
      assert.ok(prepared.ok);
      const decision = evaluateRcpt(prepared.ctx, snapshot, {});
      assert.equal(decision.verdict, verdict);
      assert.equal(decision.reason, reason);
      assert.equal(decision.rule, rule);
      if (reply !== undefined) {
        assert.ok(decision.reply);
        assert.equal(`${decision.reply.code} ${decision.reply.enhanced} ${decision.reply.text}`, reply);
      }
    });
  }
});

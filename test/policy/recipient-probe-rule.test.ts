// The RCPT decision on a live recipient-verification fact (rule
// recipient_probe, issue 16): 5xx at the next hop -> 550 5.1.1, no answer ->
// 450 4.1.1 (never 250, never 5xx), 2xx -> permit; trusted and authenticated
// clients and postmaster are never refused by a stray fact.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateRcpt, prepareRcpt } from '../../src/policy/engine.ts';
import type { ReasonCode, Verdict } from '../../src/policy/decision.ts';
import type { RecipientProbeFacts } from '../../src/policy/facts.ts';
import { formatReply } from '../../src/policy/decision.ts';
import { testSnapshot } from '../helpers/policy-snapshot.ts';
import { SUBMISSION, sessionWithSender, type SessionOptions } from '../helpers/policy-session.ts';

const snapshot = testSnapshot({ localDomains: ['example.test'], recipients: ['alice@example.test'] });
const OUTSIDE = { ip: '192.0.2.200' };
const TRUSTED = { ip: '10.1.2.3' };
const AUTHED = { ip: '192.0.2.200', user: 'alice', listener: SUBMISSION };
const hop = 'smarthost 192.0.2.25:25';
const fact = (outcome: RecipientProbeFacts['outcome'], timedOut = false): RecipientProbeFacts => ({ outcome, hop, source: 'probe', ...(timedOut ? { timedOut } : {}) });

type Row = readonly [name: string, client: SessionOptions, rcpt: string, probe: RecipientProbeFacts | undefined, verdict: Verdict, reason: ReasonCode, rule: string, reply?: string];

const ROWS: readonly Row[] = [
  ['refused at the next hop', OUTSIDE, '<bob@example.test>', fact('refused'), 'reject', 'rcpt.unknown_user', 'recipient_probe', '550 5.1.1 <bob@example.test>: Recipient address rejected: User unknown'],
  ['4xx / unreachable', OUTSIDE, '<bob@example.test>', fact('unavailable'), 'defer', 'rcpt.unverified', 'recipient_probe', '450 4.1.1 <bob@example.test>: Recipient address rejected: unverified address: Address verification failed temporarily, try again later'],
  ['past the time budget', OUTSIDE, '<bob@example.test>', fact('unavailable', true), 'defer', 'rcpt.unverified', 'recipient_probe', '450 4.1.1 <bob@example.test>: Recipient address rejected: unverified address: Address verification in progress'],
  ['accepted at the next hop', OUTSIDE, '<bob@example.test>', fact('accepted'), 'permit', 'rcpt.local_domain', 'recipient_probe'],
  ['explain without --probe-recipients', OUTSIDE, '<bob@example.test>', fact('not_probed'), 'permit', 'rcpt.local_domain', 'local-domains'],
  ['no fact: the static file decides', OUTSIDE, '<carol@example.test>', undefined, 'reject', 'rcpt.unknown_user', 'recipients'],
  ['relay network: a stray fact is ignored', TRUSTED, '<bob@example.test>', fact('refused'), 'permit', 'rcpt.local_domain', 'local-domains'],
  ['authenticated: a stray fact is ignored', AUTHED, '<bob@example.test>', fact('unavailable'), 'permit', 'rcpt.local_domain', 'local-domains'],
  ['postmaster: a stray fact is ignored', OUTSIDE, '<postmaster@example.test>', fact('refused'), 'permit', 'rcpt.local_domain', 'local-domains'],
];

describe('RCPT with a live verification fact', () => {
  const unverified = testSnapshot({ localDomains: ['example.test'] });
  for (const [name, client, rcpt, probe, verdict, reason, rule, reply] of ROWS) {
    it(name, () => {
      const snap = rcpt.includes('carol') ? snapshot : unverified;
      const ctx = sessionWithSender(client, snap);
      const prepared = prepareRcpt(ctx, snap, { address: rcpt });
      assert.ok(prepared.ok);
      const decision = evaluateRcpt(prepared.ctx, snap, probe ? { recipientProbe: probe } : {});
      assert.equal(decision.verdict, verdict);
      assert.equal(decision.reason, reason);
      assert.equal(decision.rule, rule);
      if (reply !== undefined) assert.equal(decision.reply ? formatReply(decision.reply) : '', reply);
      if (decision.rule === 'recipient_probe') assert.equal(decision.detail?.source, 'next_hop');
    });
  }
});

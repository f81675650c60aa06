// Issue 16 item 5, the pure half: RFC 6761 special-use sender domains
// (localhost, invalid and every name under them) are refused at MAIL with a
// permanent 550 5.7.1 from untrusted clients, whatever the DNS facts say
// (there are none: the provider asks nothing, see the wire test); trusted
// clients are exempt; `.test` is not special.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateMail, prepareMail } from '../../src/policy/engine.ts';
import type { ReasonCode, Verdict } from '../../src/policy/decision.ts';
import type { Facts } from '../../src/policy/facts.ts';
import { specialUseDomain } from '../../src/net/special-use.ts';
import { testSnapshot } from '../helpers/policy-snapshot.ts';
import { SUBMISSION, testSession, type SessionOptions } from '../helpers/policy-session.ts';

const snapshot = testSnapshot({ users: [{ name: 'alice', senders: ['*'] }] });

const OUT = { ip: '192.0.2.200' };
const TRUSTED = { ip: '10.1.2.3' };
const ALLOWLISTED = { ip: '198.51.100.7' };
const ALICE = { ip: '192.0.2.200', listener: SUBMISSION, user: 'alice' };

interface Expect {
  readonly verdict: Verdict;
  readonly reason: ReasonCode;
  readonly rule: string;
  readonly code?: number;
  readonly enhanced?: string;
}

const REFUSED: Expect = { verdict: 'reject', reason: 'mail.special_use_domain', rule: 'special-use-sender', code: 550, enhanced: '5.7.1' };
const OK: Expect = { verdict: 'permit', reason: 'ok', rule: 'default' };

type Row = readonly [name: string, client: SessionOptions, from: string, expect: Expect, facts?: Facts];

const ROWS: readonly Row[] = [
  ['postmaster@localhost', OUT, '<postmaster@localhost>', REFUSED],
  ['upper case, trailing dot', OUT, '<Root@LOCALHOST.>', REFUSED],
  ['a name under localhost', OUT, '<a@mail.localhost>', REFUSED],
  ['a deep name under localhost', OUT, '<a@x.y.z.localhost>', REFUSED],
  ['invalid', OUT, '<a@invalid>', REFUSED],
  ['a name under invalid', OUT, '<a@example.invalid>', REFUSED],
  // the rule decides before the sender-domain facts would (a 4xx from a failed lookup was the old reply)
  ['localhost with a failed lookup fact', OUT, '<postmaster@localhost>', REFUSED, { senderDomain: { status: 'temp_fail' } }],
  ['no DNS facts at all', OUT, '<a@sub.invalid>', REFUSED, {}],
  // not special
  ['localhost as a label elsewhere', OUT, '<a@localhost.example>', OK],
  ['a name ending in "localhost" without a dot', OUT, '<a@mylocalhost>', OK],
  ['invalid as a prefix', OUT, '<a@invalid.example>', OK],
  ['.test is left alone (labs and test suites)', OUT, '<a@lab.test>', OK],
  ['example domain', OUT, '<a@example.com>', OK],
  ['null sender', OUT, '<>', OK],
  ['an address literal', OUT, '<scanner@[192.168.1.5]>', OK],
  // trusted clients: a server on the office LAN mailing as root@localhost
  ['relay network, root@localhost', TRUSTED, '<root@localhost>', OK],
  ['allowlisted, a@x.invalid', ALLOWLISTED, '<a@x.invalid>', OK],
  ['authenticated, a@localhost', ALICE, '<a@localhost>', OK],
];

describe('special-use sender domains (RFC 6761) at MAIL', () => {
  for (const [name, client, from, expect, facts] of ROWS) {
    it(name, () => {
      const prepared = prepareMail(testSession(client), snapshot, { address: from });
      assert.ok(prepared.ok, JSON.stringify(prepared));
      const decision = evaluateMail(prepared.ctx, snapshot, facts ?? {});
      const shown = JSON.stringify(decision);
      assert.equal(decision.verdict, expect.verdict, shown);
      assert.equal(decision.reason, expect.reason, shown);
      assert.equal(decision.rule, expect.rule, shown);
      assert.equal(decision.reply?.code, expect.code, shown);
      assert.equal(decision.reply?.enhanced, expect.enhanced, shown);
    });
  }

  it('names the sender in the reply and the special-use name in the detail', () => {
    const prepared = prepareMail(testSession(OUT), snapshot, { address: '<postmaster@mail.localhost>' });
    assert.ok(prepared.ok);
    const decision = evaluateMail(prepared.ctx, snapshot, {});
    assert.equal(decision.reply?.text, '<postmaster@mail.localhost>: Sender address rejected: special-use domain (RFC 6761) cannot receive mail');
    assert.deepEqual(decision.detail, { domain: 'mail.localhost', special: 'localhost' });
  });
});

describe('specialUseDomain', () => {
  const cases: ReadonlyArray<readonly [string, string | undefined]> = [
    ['localhost', 'localhost'],
    ['a.localhost', 'localhost'],
    ['invalid', 'invalid'],
    ['a.b.invalid', 'invalid'],
    ['test', undefined],
    ['a.test', undefined],
    ['example', undefined],
    ['notlocalhost', undefined],
    ['localhost.example', undefined],
    ['invalid.test', undefined],
  ];
  for (const [domain, expected] of cases) {
    it(`${domain} -> ${String(expected)}`, () => assert.equal(specialUseDomain(domain), expected));
  }
});

// The RCPT decision, table-driven: relay control first (local domains, relay
// networks, authenticated users, else 554), every address trick refused with
// a permanent 5xx, and no anti-spam permit (allowlist, DNSWL) opening the relay.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { evaluateRcpt, prepareRcpt } from '../../src/policy/engine.ts';
import type { Decision, ReasonCode, Verdict } from '../../src/policy/decision.ts';
import type { Facts } from '../../src/policy/facts.ts';
import type { Mailbox } from '../../src/policy/address.ts';
import { dnsblFacts, testConfig, testSnapshot } from '../helpers/policy-snapshot.ts';
import { SUBMISSION, sessionWithSender, type SessionOptions } from '../helpers/policy-session.ts';

const snapshot = testSnapshot({ config: testConfig('[smtp]\nmax_recipients = 2') });

const OUTSIDE = { ip: '192.0.2.200' };
const OUTSIDE_V6 = { ip: '2001:db8:ffff::1' };
const ALLOWLISTED = { ip: '198.51.100.7' };
const TRUSTED = { ip: '10.1.2.3' };
const TRUSTED_MAPPED = { ip: '::ffff:10.1.2.3' };
const AUTHED = { ip: '192.0.2.200', user: 'alice', listener: SUBMISSION };

const LISTED: Facts = { dnsbl: dnsblFacts('192.0.2.200', [['zen.example', 3]]) };
const DNSWL: Facts = { dnsbl: dnsblFacts('192.0.2.200', [['list.dnswl.example', -5]]) };

function decide(client: SessionOptions, rcpt: string, facts: Facts = {}, recipientsSoFar = 0): Decision {
  const ctx = sessionWithSender(client, snapshot);
  const recipients: Mailbox[] = [];
  for (let i = 0; i < recipientsSoFar; i += 1) {
    const prior = prepareRcpt(ctx, snapshot, { address: `<prior${i}@example.test>` });
    assert.ok(prior.ok);
    recipients.push(prior.ctx.recipient);
  }
  const prepared = prepareRcpt({ ...ctx, recipients }, snapshot, { address: rcpt });
  return prepared.ok ? evaluateRcpt(prepared.ctx, snapshot, facts) : prepared.decision;
}

interface Expect {
  readonly verdict: Verdict;
  readonly reason: ReasonCode;
  readonly code?: number;
  readonly enhanced?: string;
}

const PERMIT_LOCAL: Expect = { verdict: 'permit', reason: 'rcpt.local_domain' };
const PERMIT_POSTMASTER: Expect = { verdict: 'permit', reason: 'rcpt.postmaster' };
const OWN_LITERAL: Expect = { verdict: 'reject', reason: 'rcpt.address_literal', code: 550, enhanced: '5.7.1' };
const RELAY_DENIED: Expect = { verdict: 'reject', reason: 'relay.denied', code: 554, enhanced: '5.7.1' };
const trick = (reason: ReasonCode): Expect => ({ verdict: 'reject', reason, code: 550, enhanced: '5.7.1' });
const SYNTAX: Expect = { verdict: 'reject', reason: 'rcpt.bad_address', code: 553, enhanced: '5.1.3' };

type Row = readonly [name: string, client: SessionOptions, rcpt: string, expect: Expect, facts?: Facts, prior?: number];

const ROWS: readonly Row[] = [
  // outside client, plain recipients
  ['outside -> local domain', OUTSIDE, '<user@example.test>', PERMIT_LOCAL],
  ['outside -> local domain, upper case + trailing dot', OUTSIDE, '<User@EXAMPLE.TEST.>', PERMIT_LOCAL],
  ['outside -> local IDN domain (U-label)', OUTSIDE, '<user@Bücher.example>', PERMIT_LOCAL],
  ['outside -> local domain in fullwidth letters', OUTSIDE, '<user@ｅｘａｍｐｌｅ.test>', PERMIT_LOCAL],
  ['outside -> postmaster@local', OUTSIDE, '<postmaster@example.test>', PERMIT_LOCAL],
  // issue 16 item 3: our own literals are refused (the next hop cannot read them); they were permitted before
  ['outside -> our own address literal', OUTSIDE, '<user@[192.0.2.25]>', trick('rcpt.address_literal')],
  ['outside -> our own IPv6 literal', OUTSIDE, '<user@[IPv6:2001:db8::25]>', trick('rcpt.address_literal')],
  ['outside -> foreign domain', OUTSIDE, '<user@foreign.test>', RELAY_DENIED],
  ['outside IPv6 -> foreign domain', OUTSIDE_V6, '<user@foreign.test>', RELAY_DENIED],
  ['outside -> foreign domain, upper case + trailing dot', OUTSIDE, '<user@FOREIGN.TEST.>', RELAY_DENIED],
  ['outside -> subdomain of a local domain', OUTSIDE, '<user@sub.example.test>', RELAY_DENIED],
  ['outside -> local domain as a prefix', OUTSIDE, '<user@example.test.foreign.test>', RELAY_DENIED],
  ['outside -> local domain as a suffix', OUTSIDE, '<user@notexample.test>', RELAY_DENIED],
  ['outside -> foreign with % in local part', OUTSIDE, '<user%example.test@foreign.test>', RELAY_DENIED],
  // issue 16 item 4: the domainless postmaster is accepted from anyone (RFC 5321 4.5.1); it was relay-denied before
  ['outside -> domainless postmaster (hostname not local)', OUTSIDE, '<postmaster>', PERMIT_POSTMASTER],
  ['outside -> bare address form', OUTSIDE, 'user@foreign.test', RELAY_DENIED],
  // the open-relay tricks, from outside
  ['% hack via local domain', OUTSIDE, '<user%foreign.test@example.test>', trick('rcpt.percent_hack')],
  ['% hack, upper-case local domain', OUTSIDE, '<user%foreign.test@EXAMPLE.TEST>', trick('rcpt.percent_hack')],
  ['% hack, trailing-dot local domain', OUTSIDE, '<user%foreign.test@example.test.>', trick('rcpt.percent_hack')],
  ['% hack via our literal', OUTSIDE, '<user%foreign.test@[192.0.2.25]>', trick('rcpt.percent_hack')],
  ['double % hack', OUTSIDE, '<user%foreign.test%example.test@example.test>', trick('rcpt.percent_hack')],
  ['bang path via local domain', OUTSIDE, '<foreign.test!user@example.test>', trick('rcpt.bang_path')],
  ['bang path, mixed case local domain', OUTSIDE, '<foreign.test!user@Example.Test>', trick('rcpt.bang_path')],
  ['bang path via our literal', OUTSIDE, '<foreign.test!user@[192.0.2.25]>', trick('rcpt.bang_path')],
  ['quoted @ via local domain', OUTSIDE, '<"user@foreign.test"@example.test>', trick('rcpt.quoted_route')],
  ['quoted % via local domain', OUTSIDE, '<"user%foreign.test"@example.test>', trick('rcpt.quoted_route')],
  ['quoted ! via local domain', OUTSIDE, '<"foreign.test!user"@example.test>', trick('rcpt.quoted_route')],
  ['quoted escaped @', OUTSIDE, '<"user\\@foreign.test"@example.test>', trick('rcpt.quoted_route')],
  ['user@foreign@local', OUTSIDE, '<user@foreign.test@example.test>', trick('rcpt.multiple_at')],
  ['user@local@foreign', OUTSIDE, '<user@example.test@foreign.test>', trick('rcpt.multiple_at')],
  ['escaped @ outside quotes', OUTSIDE, '<user\\@foreign.test@example.test>', trick('rcpt.multiple_at')],
  ['source route @local:user@foreign', OUTSIDE, '<@example.test:user@foreign.test>', trick('rcpt.source_route')],
  ['source route list', OUTSIDE, '<@example.test,@relay.example.test:user@foreign.test>', trick('rcpt.source_route')],
  ['source route via our literal', OUTSIDE, '<@[192.0.2.25]:user@foreign.test>', trick('rcpt.source_route')],
  ['literal not ours', OUTSIDE, '<user@[203.0.113.1]>', trick('rcpt.address_literal')],
  ['% hack via a literal not ours', OUTSIDE, '<user%foreign.test@[203.0.113.1]>', trick('rcpt.address_literal')],
  ['IPv6 literal not ours', OUTSIDE, '<user@[IPv6:2001:db8::99]>', trick('rcpt.address_literal')],
  ['general address literal', OUTSIDE, '<user@[x-relay:foreign.test]>', trick('rcpt.address_literal')],
  // syntax refusals
  ['IP without brackets', OUTSIDE, '<user@192.0.2.25>', SYNTAX],
  ['missing domain', OUTSIDE, '<user@>', SYNTAX],
  ['no @ at all', OUTSIDE, '<user>', SYNTAX],
  ['null recipient', OUTSIDE, '<>', SYNTAX],
  ['percent-encoded domain', OUTSIDE, '<user@ex%61mple.test>', SYNTAX],
  ['double trailing dot', OUTSIDE, '<user@example.test..>', SYNTAX],
  ['CRLF injection', OUTSIDE, '<user@example.test>\r\nRCPT TO:<user@foreign.test>', SYNTAX],
  ['NUL byte', OUTSIDE, '<user@example.test\u0000@foreign.test>', SYNTAX],
  ['zero-width space', OUTSIDE, '<user@exam\u200bple.test>', SYNTAX],
  ['second path after the first', OUTSIDE, '<user@example.test> <user@foreign.test>', SYNTAX],
  ['over-long local part', OUTSIDE, `<${'x'.repeat(65)}@example.test>`, SYNTAX],
  // anti-spam permits never open the relay
  ['allowlisted client -> foreign', ALLOWLISTED, '<user@foreign.test>', RELAY_DENIED],
  ['allowlisted client -> local', ALLOWLISTED, '<user@example.test>', PERMIT_LOCAL],
  ['allowlisted client -> % hack', ALLOWLISTED, '<user%foreign.test@example.test>', trick('rcpt.percent_hack')],
  ['DNSWL-listed client -> foreign', OUTSIDE, '<user@foreign.test>', RELAY_DENIED, DNSWL],
  ['DNSWL-listed client -> local', OUTSIDE, '<user@example.test>', PERMIT_LOCAL, DNSWL],
  // relay networks
  ['relay network -> foreign', TRUSTED, '<user@foreign.test>', { verdict: 'permit', reason: 'relay.trusted_network' }],
  ['relay network, IPv4-mapped -> foreign', TRUSTED_MAPPED, '<user@foreign.test>', { verdict: 'permit', reason: 'relay.trusted_network' }],
  ['relay network -> local', TRUSTED, '<user@example.test>', PERMIT_LOCAL],
  ['relay network -> foreign with %', TRUSTED, '<user%x@foreign.test>', { verdict: 'permit', reason: 'relay.trusted_network' }],
  ['relay network -> % hack via local', TRUSTED, '<user%foreign.test@example.test>', trick('rcpt.percent_hack')],
  ['relay network -> source route', TRUSTED, '<@example.test:user@foreign.test>', trick('rcpt.source_route')],
  ['relay network -> literal not ours', TRUSTED, '<user@[203.0.113.1]>', trick('rcpt.address_literal')],
  ['relay network -> quoted @', TRUSTED, '<"user@foreign.test"@example.test>', trick('rcpt.quoted_route')],
  ['relay network, DNSBL-listed -> foreign (exempt)', TRUSTED, '<user@foreign.test>', { verdict: 'permit', reason: 'relay.trusted_network' }, LISTED],
  // authenticated users
  ['authenticated -> foreign', AUTHED, '<user@foreign.test>', { verdict: 'permit', reason: 'relay.authenticated' }],
  ['authenticated -> local', AUTHED, '<user@example.test>', PERMIT_LOCAL],
  ['authenticated -> bang path via local', AUTHED, '<foreign.test!user@example.test>', trick('rcpt.bang_path')],
  ['authenticated -> user@foreign@local', AUTHED, '<user@foreign.test@example.test>', trick('rcpt.multiple_at')],
  ['authenticated, DNSBL-listed -> foreign (exempt)', AUTHED, '<user@foreign.test>', { verdict: 'permit', reason: 'relay.authenticated' }, LISTED],
  // anti-spam list, after relay control
  ['DNSBL-listed -> local', OUTSIDE, '<user@example.test>', { verdict: 'reject', reason: 'dnsbl.listed', code: 554, enhanced: '5.7.1' }, LISTED],
  ['DNSBL-listed -> foreign: relay refusal comes first', OUTSIDE, '<user@foreign.test>', RELAY_DENIED, LISTED],
  ['DNSBL score under threshold', OUTSIDE, '<user@example.test>', PERMIT_LOCAL, { dnsbl: dnsblFacts('192.0.2.200', [['weak.example', 0.5]]) }],
  ['allowlisted, DNSBL-listed -> local (exempt)', ALLOWLISTED, '<user@example.test>', PERMIT_LOCAL, LISTED],
  ['DNSBL zone unanswered (defer zone)', OUTSIDE, '<user@example.test>', { verdict: 'defer', reason: 'dnsbl.temp_fail', code: 451, enhanced: '4.7.1' }, { dnsbl: dnsblFacts('192.0.2.200', [], ['strict.example']) }],
  ['too many recipients -> local', OUTSIDE, '<user@example.test>', { verdict: 'defer', reason: 'rcpt.too_many', code: 452, enhanced: '4.5.3' }, {}, 2],
  ['too many recipients -> foreign: still a permanent relay refusal', OUTSIDE, '<user@foreign.test>', RELAY_DENIED, {}, 2],
  ['too many recipients -> trick: still permanent', OUTSIDE, '<user%foreign.test@example.test>', trick('rcpt.percent_hack'), {}, 2],
  ['under the recipient limit', OUTSIDE, '<user@example.test>', PERMIT_LOCAL, {}, 1],
  ['per-IP rate exceeded', OUTSIDE, '<user@example.test>', { verdict: 'defer', reason: 'rcpt.rate', code: 450, enhanced: '4.7.1' }, { rate: { exceeded: [{ scope: 'ip', limit: 'rcpt-per-ip' }] } }],
  ['per-IP rate exceeded, relay network exempt', TRUSTED, '<user@foreign.test>', { verdict: 'permit', reason: 'relay.trusted_network' }, { rate: { exceeded: [{ scope: 'ip', limit: 'rcpt-per-ip' }] } }],
  ['per-IP rate exceeded, authenticated exempt', AUTHED, '<user@foreign.test>', { verdict: 'permit', reason: 'relay.authenticated' }, { rate: { exceeded: [{ scope: 'ip', limit: 'rcpt-per-ip' }] } }],
  ['user quota exceeded', AUTHED, '<user@foreign.test>', { verdict: 'defer', reason: 'quota.exceeded', code: 450, enhanced: '4.7.1' }, { rate: { exceeded: [{ scope: 'user', limit: 'alice', quota: true }] } }],
  ['shared counters unavailable (fail closed)', OUTSIDE, '<user@example.test>', { verdict: 'defer', reason: 'limits.unavailable', code: 451, enhanced: '4.3.0' }, { rate: { exceeded: [], unavailable: true } }],
  ['shared counters unavailable, relay refusal comes first', OUTSIDE, '<user@foreign.test>', RELAY_DENIED, { rate: { exceeded: [], unavailable: true } }],
  // issue 16 item 3: our own literals, from every client (no literal is mapped to a domain)
  ['relay network -> our own literal', TRUSTED, '<user@[192.0.2.25]>', OWN_LITERAL],
  ['authenticated -> our own literal', AUTHED, '<user@[192.0.2.25]>', OWN_LITERAL],
  ['allowlisted -> our own IPv6 literal', ALLOWLISTED, '<user@[IPv6:2001:db8::25]>', OWN_LITERAL],
  ['outside -> postmaster at our own literal', OUTSIDE, '<postmaster@[192.0.2.25]>', OWN_LITERAL],
  // issue 16 item 4: postmaster, bare (any case) and at a local domain
  ['outside -> POSTMASTER (upper case)', OUTSIDE, '<POSTMASTER>', PERMIT_POSTMASTER],
  ['outside -> PostMaster, bare address form', OUTSIDE, 'PostMaster', PERMIT_POSTMASTER],
  ['relay network -> bare postmaster', TRUSTED, '<postmaster>', PERMIT_POSTMASTER],
  ['DNSBL-listed -> bare postmaster (exempt)', OUTSIDE, '<postmaster>', PERMIT_POSTMASTER, LISTED],
  ['DNSBL-listed -> postmaster@local (exempt)', OUTSIDE, '<postmaster@example.test>', PERMIT_LOCAL, LISTED],
  ['DNSBL-listed -> PostMaster@local IDN (exempt)', OUTSIDE, '<PostMaster@Bücher.example>', PERMIT_LOCAL, LISTED],
  ['DNSBL-listed -> postmaster@foreign: relay refusal stays', OUTSIDE, '<postmaster@foreign.test>', RELAY_DENIED, LISTED],
  ['DNSBL-listed -> quoted "postmaster"@local is not exempt', OUTSIDE, '<"postmaster"@example.test>', { verdict: 'reject', reason: 'dnsbl.listed', code: 554, enhanced: '5.7.1' }, LISTED],
  ['DNSBL-listed -> abuse@local is not exempt', OUTSIDE, '<abuse@example.test>', { verdict: 'reject', reason: 'dnsbl.listed', code: 554, enhanced: '5.7.1' }, LISTED],
  ['DNSBL zone unanswered -> postmaster (exempt)', OUTSIDE, '<postmaster>', PERMIT_POSTMASTER, { dnsbl: dnsblFacts('192.0.2.200', [], ['strict.example']) }],
  ['per-IP rate exceeded -> postmaster@local (exempt)', OUTSIDE, '<postmaster@example.test>', PERMIT_LOCAL, { rate: { exceeded: [{ scope: 'ip', limit: 'rcpt-per-ip' }] } }],
  ['per-IP rate exceeded -> bare postmaster (exempt)', OUTSIDE, '<postmaster>', PERMIT_POSTMASTER, { rate: { exceeded: [{ scope: 'ip', limit: 'rcpt-per-ip' }] } }],
  ['shared counters unavailable -> postmaster (exempt)', OUTSIDE, '<postmaster>', PERMIT_POSTMASTER, { rate: { exceeded: [], unavailable: true } }],
  ['too many recipients -> postmaster: the recipient limit still applies', OUTSIDE, '<postmaster>', { verdict: 'defer', reason: 'rcpt.too_many', code: 452, enhanced: '4.5.3' }, {}, 2],
];

describe('RCPT decision', () => {
  for (const [name, client, rcpt, expect, facts, prior] of ROWS) {
    it(name, () => {
      const decision = decide(client, rcpt, facts, prior);
      assert.equal(decision.stage, 'rcpt');
      assert.equal(decision.verdict, expect.verdict, JSON.stringify(decision));
      assert.equal(decision.reason, expect.reason, JSON.stringify(decision));
      if (expect.code === undefined) assert.equal(decision.reply, undefined);
      else {
        assert.equal(decision.reply?.code, expect.code);
        assert.equal(decision.reply?.enhanced, expect.enhanced);
      }
    });
  }

  it('names the recipient and the rule in a relay refusal', () => {
    const decision = decide(OUTSIDE, '<User@Foreign.Test.>');
    assert.equal(decision.rule, 'reject-relay');
    assert.equal(decision.reply?.text, '<User@foreign.test>: Relay access denied');
  });

  it('names the relay-networks entry that permitted relaying', () => {
    const decision = decide(TRUSTED, '<user@foreign.test>');
    assert.equal(decision.rule, 'relay-networks');
    assert.deepEqual(decision.detail, { cidr: '10.0.0.0/8', file: 'relay-networks', line: 2 });
  });

  it('names the DNSBL zone and client in a DNSBL refusal', () => {
    const decision = decide(OUTSIDE, '<user@example.test>', { dnsbl: dnsblFacts('192.0.2.200', [['zen.example', 1], ['bl.example', 1]]) });
    assert.equal(decision.reply?.text, 'Service unavailable; client [192.0.2.200] blocked using zen.example, bl.example');
  });

  it('names our literal in the detail of an own-literal refusal, and says why in the reply', () => {
    const decision = decide(TRUSTED, '<user@[192.0.2.25]>');
    assert.equal(decision.rule, 'own-literal');
    assert.deepEqual(decision.detail, { literal: '192.0.2.25' });
    assert.equal(decision.reply?.text, 'Address literals are not accepted here, use a domain name');
  });

  it('rewrites the bare postmaster to the configured postmaster address', () => {
    const configured = testSnapshot({ config: { ...testConfig(), postmaster: 'hostmaster@example.test' } });
    for (const spelling of ['<postmaster>', '<POSTMASTER>', '<Postmaster> NOTIFY=NEVER', 'postmaster']) {
      const prepared = prepareRcpt(sessionWithSender(OUTSIDE, configured), configured, { address: spelling });
      assert.ok(prepared.ok, spelling);
      assert.equal(prepared.ctx.recipient.address, 'hostmaster@example.test', spelling);
      assert.equal(prepared.ctx.recipient.barePostmaster, true, spelling);
      const decision = evaluateRcpt(prepared.ctx, configured, LISTED);
      assert.equal(decision.rule, 'postmaster');
      assert.deepEqual(decision.detail, { address: 'hostmaster@example.test' });
    }
  });

  it('never echoes a refused address in the reply', () => {
    const decision = decide(OUTSIDE, '<user@example.test>\r\n250 fake');
    assert.ok(!decision.reply?.text.includes('fake'));
  });
});

describe('RCPT decision properties', () => {
  const pieces = [
    'user', 'a', '.', '@', '%', '!', '"', '\\', ':', ',', '[', ']', '<', '>', ' ', '-', 'IPv6:', '::', '192.0.2.25', '203.0.113.1',
    'example.test', 'EXAMPLE.TEST', 'foreign.test', 'bücher.example', 'xn--', '\u0000', '\r\n', '\u200b', '%61',
  ];
  const text = fc.array(fc.constantFrom(...pieces), { maxLength: 12 }).map((parts) => parts.join(''));
  const LOCAL = new Set(['example.test', 'xn--bcher-kva.example']);

  it('from an outside client, nothing but a local recipient is ever permitted, and refusals are 5xx', () => {
    fc.assert(
      fc.property(text, (rcpt) => {
        const decision = decide(OUTSIDE, rcpt);
        if (decision.verdict === 'permit') {
          const prepared = prepareRcpt(sessionWithSender(OUTSIDE, snapshot), snapshot, { address: rcpt });
          assert.ok(prepared.ok);
          const { recipient } = prepared.ctx;
          assert.ok(LOCAL.has(recipient.domain) || recipient.literal === '192.0.2.25', `permitted ${recipient.address}`);
          if (!recipient.quoted) assert.ok(!/[%!@]/.test(recipient.localText), `routing in ${recipient.address}`);
        } else {
          assert.equal(decision.verdict, 'reject', JSON.stringify(decision));
          assert.ok((decision.reply?.code ?? 0) >= 500, JSON.stringify(decision));
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('allowlist membership and DNSWL facts never change an outside relay refusal', () => {
    fc.assert(
      fc.property(text, fc.integer({ min: -100, max: 100 }), (rcpt, score) => {
        const plain = decide(OUTSIDE, rcpt);
        if (plain.reason !== 'relay.denied') return;
        assert.equal(decide(ALLOWLISTED, rcpt, { dnsbl: dnsblFacts('198.51.100.7', [['zone.example', score]]) }).reason, 'relay.denied');
      }),
      { numRuns: 1000 },
    );
  });
});

// HELO sanity: the classifier, policies/checks.toml, and the HELO rules
// through the engine (context in, Decision out).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { classifyHelo, type HeloName } from '../../src/policy/helo-name.ts';
import { evaluateHelo } from '../../src/policy/engine.ts';
import { defaultChecksPolicy, parseChecksFile, type ChecksPolicy } from '../../src/config/checks-file.ts';
import { formatProblem } from '../../src/config/errors.ts';
import { testSnapshot } from '../helpers/policy-snapshot.ts';
import { testSession, type SessionOptions } from '../helpers/policy-session.ts';

const FILE = fileURLToPath(new URL('../../policies/checks.toml', import.meta.url));

function checks(text: string): ChecksPolicy {
  const result = parseChecksFile('checks.toml', text);
  assert.ok(result.ok, result.ok ? '' : result.problems.map(formatProblem).join('\n'));
  return result.value;
}

describe('classifyHelo', () => {
  const rows: ReadonlyArray<readonly [string, HeloName]> = [
    ['mail.example.com', { kind: 'name', name: 'mail.example.com', fqdn: true }],
    ['Mail.Example.COM.', { kind: 'name', name: 'mail.example.com', fqdn: true }],
    ['host_1.example.com', { kind: 'name', name: 'host_1.example.com', fqdn: true }],
    ['EXCHANGE01', { kind: 'name', name: 'exchange01', fqdn: false }],
    ['[192.0.2.1]', { kind: 'address', ip: '192.0.2.1' }],
    ['[IPv6:2001:db8::1]', { kind: 'address', ip: '2001:db8::1' }],
    ['192.0.2.1', { kind: 'address', ip: '192.0.2.1' }],
    ['[999.1.1.1]', { kind: 'invalid' }],
    ['[2001:db8::1]', { kind: 'invalid' }],
    ['[IPv6:192.0.2.1]', { kind: 'invalid' }],
    ['1.2.3', { kind: 'invalid' }],
    ['mail..example.com', { kind: 'invalid' }],
    ['-mail.example.com', { kind: 'invalid' }],
    ['mail-.example.com', { kind: 'invalid' }],
    ['!!!', { kind: 'invalid' }],
    ['mail@example.com', { kind: 'invalid' }],
    [`${'a'.repeat(64)}.example.com`, { kind: 'invalid' }],
    ['.', { kind: 'invalid' }],
  ];
  for (const [text, expected] of rows) it(text, () => assert.deepEqual(classifyHelo(text), expected));
});

describe('policies/checks.toml', () => {
  it('defaults: impersonation and invalid names refused, bare names allowed, sender domains checked', () => {
    const policy = defaultChecksPolicy();
    assert.deepEqual({ ...policy.helo, ourNames: [...policy.helo.ourNames] }, { rejectImpersonation: true, rejectInvalid: true, rejectNonFqdn: false, ourNames: [] });
    assert.deepEqual(policy.senderDomain, { enabled: true, unknownReply: 'reject', onDnsError: 'defer', timeout: 5000, cacheTtl: 600_000 });
  });

  it('the shipped file parses, and documents every option with its default', async () => {
    const text = await readFile(FILE, 'utf8');
    assert.deepEqual(checks(text), defaultChecksPolicy());
    const uncommented = text.replace(/^# ([a-z_]+ = .*)$/gm, '$1');
    const keys = [...uncommented.matchAll(/^([a-z_]+) = /gm)].map((m) => m[1]);
    assert.deepEqual(keys, ['reject_impersonation', 'our_names', 'reject_invalid', 'reject_non_fqdn', 'reject_unknown', 'unknown_reply', 'on_dns_error', 'timeout', 'cache_ttl']);
    assert.deepEqual(checks(uncommented), defaultChecksPolicy());
  });

  it('names are normalised; problems carry their line', () => {
    assert.deepEqual([...checks('[helo]\nour_names = ["MX1.Example.COM."]\n').helo.ourNames], ['mx1.example.com']);
    const rows: ReadonlyArray<readonly [string, number, RegExp]> = [
      ['[helo]\nour_names = ["not a name"]\n', 2, /helo\.our_names: invalid host name/],
      ['[helo]\nreject_invalid = "yes"\n', 2, /helo\.reject_invalid/],
      ['[sender_domain]\nunknown_reply = "bounce"\n', 2, /sender_domain\.unknown_reply/],
      ['[sender_domain]\n\ntimeout = "soon"\n', 3, /sender_domain\.timeout: invalid duration/],
      ['[sender_domain]\ntimeout = "10ms"\n', 2, /at least 100 ms/],
      ['[helo]\nreject_fqdn = true\n', 1, /Unrecognized key/],
    ];
    for (const [text, line, message] of rows) {
      const result = parseChecksFile('checks.toml', text);
      assert.equal(result.ok, false, text);
      if (result.ok) continue;
      assert.equal(result.problems[0]?.line, line, text);
      assert.match(result.problems[0]?.message ?? '', message, text);
    }
  });
});

describe('HELO rules', () => {
  type Expect = { verdict: string; reason?: string; code?: number; enhanced?: string };
  const OK: Expect = { verdict: 'permit', reason: 'ok' };
  const IMPERSONATION: Expect = { verdict: 'reject', reason: 'helo.impersonation', code: 550, enhanced: '5.7.1' };
  const INVALID: Expect = { verdict: 'reject', reason: 'helo.invalid', code: 501, enhanced: '5.5.2' };
  const NOT_FQDN: Expect = { verdict: 'reject', reason: 'helo.not_fqdn', code: 504, enhanced: '5.5.2' };
  const OUTSIDE = '192.0.2.200';
  // testSession: our hostname relay.example.test, our addresses 192.0.2.25 and 2001:db8::25.
  const rows: ReadonlyArray<readonly [string, SessionOptions, string, Expect]> = [
    ['an ordinary FQDN', { ip: OUTSIDE }, '', OK],
    ['our host name', { ip: OUTSIDE, helo: 'relay.example.test' }, '', IMPERSONATION],
    ['our host name, another spelling', { ip: OUTSIDE, helo: 'RELAY.example.test.' }, '', IMPERSONATION],
    ['one of our addresses', { ip: OUTSIDE, helo: '[192.0.2.25]' }, '', IMPERSONATION],
    ['one of our IPv6 addresses, long form', { ip: OUTSIDE, helo: '[IPv6:2001:db8:0:0:0:0:0:25]' }, '', IMPERSONATION],
    ['a bare address of ours', { ip: OUTSIDE, helo: '192.0.2.25' }, '', IMPERSONATION],
    ['a name listed in our_names', { ip: OUTSIDE, helo: 'mx1.example.test' }, '[helo]\nour_names = ["mx1.example.test"]\n', IMPERSONATION],
    ['localhost from afar', { ip: OUTSIDE, helo: 'localhost' }, '', IMPERSONATION],
    ['a loopback literal from afar', { ip: OUTSIDE, helo: '[127.0.0.1]' }, '', IMPERSONATION],
    ['localhost from loopback is true', { ip: '127.0.0.5', helo: 'localhost' }, '', OK],
    ['the client\'s own address literal', { ip: OUTSIDE, helo: `[${OUTSIDE}]` }, '', OK],
    ['impersonation check switched off', { ip: OUTSIDE, helo: 'relay.example.test' }, '[helo]\nreject_impersonation = false\n', OK],
    ['invalid name', { ip: OUTSIDE, helo: 'bad..name' }, '', INVALID],
    ['invalid address literal', { ip: OUTSIDE, helo: '[300.1.1.1]' }, '', INVALID],
    ['invalid check switched off', { ip: OUTSIDE, helo: 'bad..name' }, '[helo]\nreject_invalid = false\n', OK],
    ['bare name, default allows it', { ip: OUTSIDE, helo: 'exchange01' }, '', OK],
    ['bare name, non-FQDN check on', { ip: OUTSIDE, helo: 'exchange01' }, '[helo]\nreject_non_fqdn = true\n', NOT_FQDN],
    ['address literal is not a bare name', { ip: OUTSIDE, helo: '[192.0.2.9]' }, '[helo]\nreject_non_fqdn = true\n', OK],
    ['relay networks are exempt', { ip: '10.0.0.9', helo: 'relay.example.test' }, '', OK],
    ['the allowlist is exempt', { ip: '198.51.100.7', helo: 'bad..name' }, '', OK],
    ['authenticated users are exempt', { ip: OUTSIDE, helo: 'relay.example.test', user: 'alice' }, '', OK],
  ];
  for (const [name, session, checksText, expect] of rows) {
    it(name, () => {
      const snapshot = testSnapshot({ checks: checks(checksText) });
      const ctx = testSession(session.helo === undefined ? { ...session, helo: 'mail.other.example' } : session);
      const decision = evaluateHelo(ctx, snapshot, {});
      assert.equal(decision.verdict, expect.verdict);
      assert.equal(decision.reason, expect.reason ?? decision.reason);
      assert.equal(decision.stage, 'helo');
      if (expect.code !== undefined) {
        assert.equal(decision.reply?.code, expect.code);
        assert.equal(decision.reply?.enhanced, expect.enhanced);
        assert.ok(decision.reply?.text.startsWith(`<${ctx.helo}>: Helo command rejected`), decision.reply?.text);
      }
    });
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateDnsbl, scoreDnsbl, type DnsblFacts, type ZoneResult } from '../../src/policy/dnsbl-rule.ts';
import type { ReasonCode, Verdict } from '../../src/policy/decision.ts';

const IP = '192.0.2.7';

function zone(name: string, status: ZoneResult['status'], extra: Partial<ZoneResult> = {}): ZoneResult {
  return { zone: name, kind: 'ip', target: 'client', subject: IP, weight: 1, onError: 'ignore', status, ...(status === 'listed' ? { codes: ['127.0.0.2'] } : {}), ...extra };
}

const facts = (...results: ZoneResult[]): DnsblFacts => ({ clientIp: IP, results });

test('score against threshold: verdict and reason', () => {
  const table: Array<{ name: string; facts: DnsblFacts; threshold: number; verdict: Verdict; reason: ReasonCode; score?: number }> = [
    { name: 'no zones', facts: facts(), threshold: 1, verdict: 'dunno', reason: 'ok' },
    { name: 'all clean', facts: facts(zone('a', 'clean'), zone('b', 'clean')), threshold: 1, verdict: 'dunno', reason: 'ok' },
    { name: 'one listing reaches 1', facts: facts(zone('a', 'listed')), threshold: 1, verdict: 'reject', reason: 'dnsbl.listed' },
    { name: 'one listing of weight 1 is below 2', facts: facts(zone('a', 'listed'), zone('b', 'clean')), threshold: 2, verdict: 'dunno', reason: 'ok', score: 1 },
    { name: 'two listings reach 2', facts: facts(zone('a', 'listed'), zone('b', 'listed')), threshold: 2, verdict: 'reject', reason: 'dnsbl.listed', score: 2 },
    { name: 'fractional weights add up', facts: facts(zone('a', 'listed', { weight: 0.5 }), zone('b', 'listed', { weight: 0.6 })), threshold: 1, verdict: 'reject', reason: 'dnsbl.listed' },
    {
      name: 'a zone counts once for several codes',
      facts: facts(zone('a', 'listed', { codes: ['127.0.0.2', '127.0.0.4', '127.0.0.10'] })),
      threshold: 2,
      verdict: 'dunno',
      reason: 'ok',
      score: 1,
    },
    {
      name: 'a domain zone counts once for HELO and sender',
      facts: facts(
        zone('dbl', 'listed', { kind: 'domain', target: 'helo', subject: 'bad.example' }),
        zone('dbl', 'listed', { kind: 'domain', target: 'sender', subject: 'bad.example' }),
      ),
      threshold: 2,
      verdict: 'dunno',
      reason: 'ok',
      score: 1,
    },
    { name: 'DNSWL lowers the score below threshold', facts: facts(zone('a', 'listed', { weight: 2 }), zone('wl', 'listed', { weight: -1.5 })), threshold: 1, verdict: 'dunno', reason: 'ok', score: 0.5 },
    { name: 'DNSWL alone never permits', facts: facts(zone('wl', 'listed', { weight: -5 })), threshold: 1, verdict: 'dunno', reason: 'ok', score: -5 },
    { name: 'DNSWL not enough', facts: facts(zone('a', 'listed', { weight: 3 }), zone('wl', 'listed', { weight: -1 })), threshold: 1, verdict: 'reject', reason: 'dnsbl.listed' },
    { name: 'weight 0 only watches', facts: facts(zone('a', 'listed', { weight: 0 })), threshold: 1, verdict: 'dunno', reason: 'ok' },
    { name: 'RHSBL only', facts: facts(zone('dbl', 'listed', { kind: 'domain', target: 'sender', subject: 'bad.example' })), threshold: 1, verdict: 'reject', reason: 'rhsbl.listed' },
    {
      name: 'IP and domain listings: dnsbl reason',
      facts: facts(zone('dbl', 'listed', { kind: 'domain', target: 'sender', subject: 'bad.example', weight: 3 }), zone('a', 'listed')),
      threshold: 1,
      verdict: 'reject',
      reason: 'dnsbl.listed',
    },
    { name: 'zone problem is not a listing', facts: facts(zone('a', 'zone_problem', { problem: 'error_code', codes: ['127.255.255.254'] })), threshold: 1, verdict: 'dunno', reason: 'ok' },
    { name: 'zone problem never defers', facts: facts(zone('a', 'zone_problem', { onError: 'defer', problem: 'error_code' })), threshold: 1, verdict: 'dunno', reason: 'ok' },
    { name: 'suspended zone is not a listing', facts: facts(zone('a', 'suspended', { onError: 'defer' })), threshold: 1, verdict: 'dunno', reason: 'ok' },
    { name: 'skipped zone is nothing', facts: facts(zone('a', 'skipped', { onError: 'defer' })), threshold: 1, verdict: 'dunno', reason: 'ok' },
    { name: 'timeout fails open by default', facts: facts(zone('a', 'failed', { problem: 'timeout' })), threshold: 1, verdict: 'dunno', reason: 'ok' },
    { name: 'timeout with on_error=defer defers', facts: facts(zone('a', 'failed', { problem: 'timeout', onError: 'defer' })), threshold: 1, verdict: 'defer', reason: 'dnsbl.temp_fail' },
    { name: 'SERVFAIL with on_error=defer defers', facts: facts(zone('a', 'failed', { problem: 'servfail', onError: 'defer' })), threshold: 1, verdict: 'defer', reason: 'dnsbl.temp_fail' },
    {
      name: 'a certain refusal wins over a failed defer zone',
      facts: facts(zone('a', 'listed'), zone('b', 'failed', { problem: 'timeout', onError: 'defer' })),
      threshold: 1,
      verdict: 'reject',
      reason: 'dnsbl.listed',
    },
    {
      name: 'a failed defer zone that could not reach the threshold does not defer',
      facts: facts(zone('b', 'failed', { problem: 'timeout', onError: 'defer', weight: 1 })),
      threshold: 2,
      verdict: 'dunno',
      reason: 'ok',
    },
    {
      name: 'a failed defer zone that could tip the score defers',
      facts: facts(zone('a', 'listed'), zone('b', 'failed', { problem: 'timeout', onError: 'defer', weight: 1 })),
      threshold: 2,
      verdict: 'defer',
      reason: 'dnsbl.temp_fail',
    },
    {
      name: 'a failed DNSWL with on_error=defer defers what it could have let through',
      facts: facts(zone('a', 'listed'), zone('wl', 'failed', { problem: 'timeout', onError: 'defer', weight: -2 })),
      threshold: 1,
      verdict: 'defer',
      reason: 'dnsbl.temp_fail',
    },
    {
      name: 'a failed DNSWL with on_error=ignore counts as not listed',
      facts: facts(zone('a', 'listed'), zone('wl', 'failed', { problem: 'timeout', weight: -2 })),
      threshold: 1,
      verdict: 'reject',
      reason: 'dnsbl.listed',
    },
    {
      name: 'a listing for one subject beats a failure for another in the same zone',
      facts: facts(
        zone('dbl', 'failed', { kind: 'domain', target: 'helo', subject: 'x.example', onError: 'defer', problem: 'timeout' }),
        zone('dbl', 'listed', { kind: 'domain', target: 'sender', subject: 'bad.example' }),
      ),
      threshold: 1,
      verdict: 'reject',
      reason: 'rhsbl.listed',
    },
  ];
  for (const row of table) {
    const decision = evaluateDnsbl(row.facts, { threshold: row.threshold });
    assert.equal(decision.verdict, row.verdict, row.name);
    assert.equal(decision.reason, row.reason, row.name);
    assert.equal(decision.stage, 'rcpt', row.name);
    assert.equal(decision.rule, 'dnsbl', row.name);
    if (row.score !== undefined) assert.equal(scoreDnsbl(row.facts).score, row.score, row.name);
    if (decision.verdict === 'reject') assert.deepEqual([decision.reply?.code, decision.reply?.enhanced], [554, '5.7.1'], row.name);
    if (decision.verdict === 'defer') assert.deepEqual([decision.reply?.code, decision.reply?.enhanced], [451, '4.7.1'], row.name);
  }
});

test('the refusal names the blocking lists, heaviest first, never allow lists, and adds the first reply text', () => {
  const decision = evaluateDnsbl(
    facts(
      zone('light.example', 'listed', { weight: 1, text: 'see https://light.example/lookup' }),
      zone('heavy.example', 'listed', { weight: 2 }),
      zone('dnswl.example', 'listed', { weight: -0.5 }),
      zone('clean.example', 'clean'),
    ),
    { threshold: 1 },
  );
  assert.equal(decision.reply?.text, 'Service unavailable; client [192.0.2.7] blocked using heavy.example, light.example; see https://light.example/lookup');
  assert.equal(decision.detail?.score, 2.5);
});

test('the deferral names the zones that could not be asked', () => {
  const decision = evaluateDnsbl(facts(zone('slow.example', 'failed', { onError: 'defer', problem: 'timeout' })), { threshold: 1 });
  assert.match(decision.reply?.text ?? '', /client \[192\.0\.2\.7\] could not be checked against slow\.example/);
});

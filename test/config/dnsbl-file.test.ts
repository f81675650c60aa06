import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { defaultDnsblPolicy, parseDnsblFile } from '../../src/config/dnsbl-file.ts';
import { filterMatches, ipv4ToInt } from '../../src/config/return-codes.ts';

const EXAMPLE = new URL('../../policies/dnsbl.toml', import.meta.url);

test('the example policies/dnsbl.toml parses, enables no zone, and every commented zone parses too', async () => {
  const text = await readFile(EXAMPLE, 'utf8');
  const result = parseDnsblFile('policies/dnsbl.toml', text);
  assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
  assert.equal(result.value.zones.length, 0);
  // Each commented example zone, uncommented on its own, must parse: they are documentation.
  const lines = text.split('\n');
  const starts = lines.flatMap((line, index) => (line === '# [[zones]]' ? [index] : []));
  assert.equal(starts.length, 6);
  const parsed = starts.map((first) => {
    const copy = [...lines];
    for (let index = first; index < copy.length && (copy[index] as string).startsWith('# ') && index < first + 20; index++) {
      const line = copy[index] as string;
      if (index > first && line === '# [[zones]]') break;
      if (line === '# [[zones]]' || /^# [a-z_]+ = /.test(line)) copy[index] = line.slice(2);
    }
    const one = parseDnsblFile('policies/dnsbl.toml', copy.join('\n'));
    assert.ok(one.ok, JSON.stringify(!one.ok && one.problems));
    assert.equal(one.value.zones.length, 1);
    const zone = one.value.zones[0]!;
    return [zone.name, zone.kind, zone.weight];
  });
  assert.deepEqual(parsed, [
    ['zen.spamhaus.org', 'ip', 2],
    ['zen.spamhaus.org', 'ip', 2],
    ['bl.spamcop.net', 'ip', 1],
    ['dbl.spamhaus.org', 'domain', 2],
    ['multi.uribl.com', 'domain', 1],
    ['list.dnswl.org', 'ip', -2],
  ]);
});

test('defaults: threshold 1, private clients skipped, cache and health settings filled in', () => {
  const policy = defaultDnsblPolicy();
  assert.equal(policy.threshold, 1);
  assert.equal(policy.checkPrivateClients, false);
  assert.deepEqual(policy.cache, { maxEntries: 10_000, negativeTtl: 300_000, minTtl: 60_000, maxTtl: 3_600_000 });
  assert.equal(policy.health.suspendedProbeInterval, 60_000);
  assert.equal(policy.health.failuresToSuspend, 5);
});

test('a zone table becomes a compiled zone', () => {
  const result = parseDnsblFile(
    'dnsbl.toml',
    `threshold = 3
check_private_clients = true
[cache]
negative_ttl = "30s"
min_ttl = "10s"
max_ttl = "2h"
[[zones]]
zone = "Zen.DQ.Example."
key = "abc"
name = "zen"
weight = 2.5
codes = ["127.0.0.2-127.0.0.3", "127.0.0.10/31"]
exclude_codes = ["127.0.0.3"]
bitmask = 64
ipv6 = true
on_error = "defer"
reply = "see https://example.test/{ip}"
[[zones]]
zone = "dbl.example"
kind = "domain"
check = ["sender"]
txt = false
[[zones]]
zone = "off.example"
enabled = false
`,
  );
  assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
  const policy = result.value;
  assert.equal(policy.threshold, 3);
  assert.equal(policy.checkPrivateClients, true);
  assert.deepEqual(policy.cache, { maxEntries: 10_000, negativeTtl: 30_000, minTtl: 10_000, maxTtl: 7_200_000 });
  assert.equal(policy.zones.length, 2);
  const [zen, dbl] = policy.zones;
  assert.ok(zen && dbl);
  assert.equal(zen.zone, 'zen.dq.example');
  assert.equal(zen.key, 'abc');
  assert.equal(zen.name, 'zen');
  assert.equal(zen.weight, 2.5);
  assert.equal(zen.ipv6, true);
  assert.equal(zen.onError, 'defer');
  assert.equal(zen.line, 7);
  const matches = (ip: string): boolean => filterMatches(zen.filter, ipv4ToInt(ip));
  assert.deepEqual(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.11', '127.0.0.64', '127.0.0.65'].map(matches), [true, false, false, true, true, true]);
  assert.equal(dbl.kind, 'domain');
  assert.deepEqual(dbl.targets, ['sender']);
  assert.equal(dbl.txt, false);
  assert.equal(dbl.name, 'dbl.example');
});

test('every problem is reported with its line', () => {
  const table: Array<{ name: string; text: string; line: number; match: RegExp }> = [
    { name: 'TOML syntax', text: 'threshold = 1\nzones = [\n', line: 3, match: /TOML syntax/ },
    { name: 'unknown key', text: 'threshold = 1\n\n[[zones]]\nzone = "a.test"\nwieght = 2\n', line: 3, match: /wieght/ },
    { name: 'threshold 0', text: '\nthreshold = 0\n', line: 2, match: /threshold/ },
    { name: 'bad code', text: '[[zones]]\nzone = "a.test"\ncodes = ["127.0.0.2", "10.0.0.1"]\n', line: 3, match: /127\.0\.0\.0\/8/ },
    { name: 'error code as a listing', text: '[[zones]]\nzone = "a.test"\n\ncodes = ["127.255.255.254"]\n', line: 4, match: /error range/ },
    { name: 'bad kind', text: '[[zones]]\nzone = "a.test"\nkind = "url"\n', line: 3, match: /kind/ },
    { name: 'bad on_error', text: '[[zones]]\nzone = "a.test"\non_error = "reject"\n', line: 3, match: /on_error/ },
    { name: 'zone not a DNS name', text: '[[zones]]\nzone = "a test"\n', line: 2, match: /DNS name/ },
    { name: 'bad duration', text: '[cache]\nmax_entries = 5\nnegative_ttl = "soon"\n', line: 3, match: /duration/ },
    { name: 'min above max', text: '[cache]\nmin_ttl = "2h"\nmax_ttl = "1h"\n', line: 2, match: /min_ttl/ },
    {
      name: 'duplicate name',
      text: '[[zones]]\nzone = "a.test"\n\n[[zones]]\nzone = "b.test"\nname = "a.test"\n',
      line: 4,
      match: /already defined on line 1/,
    },
    {
      name: 'key inside the zone without a display name',
      text: '[[zones]]\nzone = "k3y9a8b7c6d5e4f3g2h1.zen.dq.example"\n',
      line: 2,
      match: /access key/,
    },
    { name: 'ipv6 on a domain zone', text: '[[zones]]\nzone = "d.test"\nkind = "domain"\nipv6 = true\n', line: 4, match: /ipv6/ },
    { name: 'unknown placeholder', text: '[[zones]]\nzone = "d.test"\nreply = "see {url}"\n', line: 3, match: /placeholder/ },
    { name: 'reply on two lines', text: '[[zones]]\nzone = "d.test"\nreply = "a\\r\\nb"\n', line: 3, match: /one line/ },
    { name: 'name with a space', text: '[[zones]]\nzone = "d.test"\nname = "my list"\n', line: 3, match: /name/ },
    { name: 'bitmask out of range', text: '[[zones]]\nzone = "d.test"\nbitmask = 256\n', line: 3, match: /bitmask/ },
    { name: 'samples above window', text: '[health]\nhit_rate_window = 20\nhit_rate_min_samples = 30\n', line: 3, match: /hit_rate_min_samples/ },
    { name: 'max_hit_rate above 1', text: '[health]\nmax_hit_rate = 1.5\n', line: 2, match: /max_hit_rate/ },
  ];
  for (const row of table) {
    const result = parseDnsblFile('policies/dnsbl.toml', row.text);
    assert.equal(result.ok, false, row.name);
    if (result.ok) continue;
    const problem = result.problems.find((p) => row.match.test(p.message));
    assert.ok(problem, `${row.name}: ${JSON.stringify(result.problems)}`);
    assert.equal(problem.file, 'policies/dnsbl.toml', row.name);
    assert.equal(problem.line, row.line, `${row.name}: ${problem.message}`);
  }
});

test('a key-looking zone is fine once a display name is set, and a separate key is never the display name', () => {
  const withName = parseDnsblFile('d', '[[zones]]\nzone = "k3y9a8b7c6d5e4f3g2h1.zen.dq.example"\nname = "zen"\n');
  assert.ok(withName.ok);
  const withKey = parseDnsblFile('d', '[[zones]]\nzone = "zen.dq.example"\nkey = "k3y9a8b7c6d5e4f3g2h1"\n');
  assert.ok(withKey.ok);
  assert.equal(withKey.value.zones[0]?.name, 'zen.dq.example');
});

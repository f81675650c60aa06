// policies/limits.toml: the parser (table-driven), its defaults, and the
// shipped example (every option commented out with its default value).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { countLimits, defaultLimitsPolicy, parseLimitsFile, parseRateText, type LimitsPolicy } from '../../src/config/limits-file.ts';
import { formatProblem } from '../../src/config/errors.ts';

const FILE = fileURLToPath(new URL('../../policies/limits.toml', import.meta.url));

function parsed(text: string): LimitsPolicy {
  const result = parseLimitsFile('limits.toml', text);
  assert.ok(result.ok, result.ok ? '' : result.problems.map(formatProblem).join('\n'));
  return result.value;
}

test('rates as administrators write them', () => {
  const rows: ReadonlyArray<readonly [string, { count: number; windowMs: number; text: string } | RegExp]> = [
    ['60/1m', { count: 60, windowMs: 60_000, text: '60/1m' }],
    [' 500 / 1H ', { count: 500, windowMs: 3_600_000, text: '500/1h' }],
    ['2000/1d', { count: 2000, windowMs: 86_400_000, text: '2000/1d' }],
    ['10/90s', { count: 10, windowMs: 90_000, text: '10/90s' }],
    ['1/7d', { count: 1, windowMs: 7 * 86_400_000, text: '1/7d' }],
    ['0/1m', /at least 1/],
    ['60', /COUNT\/WINDOW/],
    ['60 per minute', /COUNT\/WINDOW/],
    ['60/soon', /not a duration/],
    ['5/500ms', /whole number of seconds/],
    ['5/1.5s', /whole number of seconds/],
    ['5/8d', /at most 7d/],
  ];
  for (const [text, expected] of rows) {
    const result = parseRateText(text);
    if (expected instanceof RegExp) assert.match(String(result), expected, text);
    else assert.deepEqual(result, expected, text);
  }
});

test('no file, or an empty one: the generous defaults', () => {
  const policy = defaultLimitsPolicy();
  assert.deepEqual(parsed(''), policy);
  assert.equal(policy.global.maxConnections, 1000);
  assert.equal(policy.ip.maxConnections, 30);
  assert.deepEqual(policy.ip.connections.map((w) => w.text), ['60/1m']);
  assert.deepEqual(policy.ip.messages.map((w) => w.text), ['500/1h']);
  assert.deepEqual(policy.ip.recipients.map((w) => w.text), ['2000/1h']);
  assert.deepEqual(policy.user.messages.map((w) => w.text), ['200/1h', '2000/1d']);
  assert.deepEqual(policy.user.recipients.map((w) => w.text), ['1000/1h', '5000/1d']);
  assert.deepEqual(policy.senderDomain, { messages: [], recipients: [] });
  assert.deepEqual([policy.ip.ipv4Prefix, policy.ip.ipv6Prefix], [32, 64]);
  assert.equal(countLimits(policy), 9);
  assert.ok(Object.isFrozen(policy.ip.messages), 'the policy is immutable');
});

test('a key that is written replaces its default; the others stay', () => {
  const policy = parsed('[ip]\nmessages = ["10/1m", "100/1h"]\nconnections = "off"\nmax_connections = 0\n[sender_domain]\nrecipients = "50/1h"\n');
  assert.deepEqual(policy.ip.messages.map((w) => [w.count, w.windowMs]), [[10, 60_000], [100, 3_600_000]]);
  assert.deepEqual(policy.ip.connections, []);
  assert.equal(policy.ip.maxConnections, 0);
  assert.deepEqual(policy.ip.recipients.map((w) => w.text), ['2000/1h']);
  assert.deepEqual(policy.senderDomain.recipients.map((w) => w.text), ['50/1h']);
  assert.equal(policy.global.maxConnections, 1000);
  assert.equal(countLimits(policy), 1 + 2 + 1 + 2 + 2 + 1);
});

test('every problem is reported with its line', () => {
  const rows: ReadonlyArray<readonly [string, string, number, RegExp]> = [
    ['bad rate', '[ip]\nmessages = "lots"\n', 2, /ip\.messages: invalid rate "lots"/],
    ['bad rate in a list', '[user]\n\nrecipients = ["5/1h", "5/fortnight"]\n', 3, /user\.recipients: .*not a duration/],
    ['same window twice', '[user]\nmessages = ["5/1h", "9/60m"]\n', 2, /same window/],
    ['negative cap', '[global]\nmax_connections = -1\n', 2, /global\.max_connections/],
    ['prefix out of range', '[ip]\nipv6_prefix = 8\n', 2, /ip\.ipv6_prefix/],
    ['misspelt key', '[ip]\nmax_conections = 5\n', 1, /Unrecognized key: "max_conections"/],
    ['unknown table', '# limits\n[per_ip]\nmessages = "5/1h"\n', 2, /Unrecognized key: "per_ip"/],
    ['syntax error', '[ip\n', 1, /TOML syntax/],
  ];
  for (const [name, text, line, message] of rows) {
    const result = parseLimitsFile('limits.toml', text);
    assert.equal(result.ok, false, name);
    if (result.ok) continue;
    const problem = result.problems[0];
    assert.equal(problem?.file, 'limits.toml', name);
    assert.equal(problem?.line, line, `${name}: ${problem?.message}`);
    assert.match(problem?.message ?? '', message, name);
  }
});

test('the shipped limits.toml parses, and documents every option with its default', async () => {
  const text = await readFile(FILE, 'utf8');
  assert.deepEqual(parsed(text), defaultLimitsPolicy(), 'as shipped (all commented out): the defaults');
  const uncommented = text.replace(/^# ([a-z0-9_]+ = .*)$/gm, '$1');
  const keys = [...uncommented.matchAll(/^([a-z0-9_]+) = /gm)].map((m) => m[1]);
  assert.deepEqual(
    keys,
    ['max_connections', 'max_connections', 'connections', 'messages', 'recipients', 'ipv4_prefix', 'ipv6_prefix', 'messages', 'recipients', 'messages', 'recipients'],
    'every option is shown',
  );
  assert.deepEqual(parsed(uncommented), defaultLimitsPolicy(), 'uncommented: the same values, so the comments tell the truth');
});

// The pure half of the limits: counts in, facts out (and which counter a
// client address falls into). Table-driven.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connectionExceeded, rateExceeded, userWindows, type ConnectionCounts, type CountedWindow } from '../../src/facts/limits/compare-limits.ts';
import { clientKey } from '../../src/facts/limits/client-key.ts';
import { parseLimitsFile, parseRateText, type LimitsPolicy, type RateWindow } from '../../src/config/limits-file.ts';

function limits(text: string): LimitsPolicy {
  const result = parseLimitsFile('limits.toml', text);
  if (!result.ok) throw new Error(result.problems.map((p) => p.message).join('\n'));
  return result.value;
}

const rate = (text: string): RateWindow => parseRateText(text) as RateWindow;

describe('connectionExceeded', () => {
  const policy = limits('[global]\nmax_connections = 100\n[ip]\nmax_connections = 3\nconnections = ["10/1m", "50/1h"]\n');
  const [perMinute, perHour] = policy.ip.connections as [RateWindow, RateWindow];
  const rows: ReadonlyArray<readonly [string, ConnectionCounts, string | undefined, LimitsPolicy?]> = [
    ['well within', { global: 5, ip: 1, ipRates: [{ window: perMinute, count: 1 }, { window: perHour, count: 1 }] }, undefined],
    ['exactly at every limit passes', { global: 100, ip: 3, ipRates: [{ window: perMinute, count: 10 }, { window: perHour, count: 50 }] }, undefined],
    ['one connection too many', { global: 5, ip: 4 }, 'conn.limit'],
    ['per-minute rate', { global: 5, ip: 1, ipRates: [{ window: perMinute, count: 11 }, { window: perHour, count: 11 }] }, 'conn.rate'],
    ['per-hour rate', { global: 5, ip: 1, ipRates: [{ window: perMinute, count: 2 }, { window: perHour, count: 51 }] }, 'conn.rate'],
    ['global cap comes first', { global: 101, ip: 4, ipRates: [{ window: perMinute, count: 99 }] }, 'conn.global_limit'],
    ['concurrency before rate', { global: 5, ip: 4, ipRates: [{ window: perMinute, count: 99 }] }, 'conn.limit'],
    ['exempt client: no per-IP counts', { global: 50 }, undefined],
    ['cap 0 means none', { global: 10_000, ip: 10_000 }, undefined, limits('[global]\nmax_connections = 0\n[ip]\nmax_connections = 0\n')],
  ];
  for (const [name, counts, expected, policyOverride] of rows) {
    it(name, () => assert.equal(connectionExceeded(counts, policyOverride ?? policy), expected));
  }
});

describe('rateExceeded', () => {
  const counted = (scope: CountedWindow['scope'], name: string, text: string, count: number, quota?: boolean): CountedWindow => ({ scope, name, window: rate(text), count, ...(quota ? { quota } : {}) });
  const rows: ReadonlyArray<readonly [string, CountedWindow[], unknown[]]> = [
    ['nothing counted', [], []],
    ['at the limit passes', [counted('ip', 'ip.messages', '5/1h', 5)], []],
    ['over the limit', [counted('ip', 'ip.messages', '5/1h', 6)], [{ scope: 'ip', limit: 'ip.messages 5/1h' }]],
    [
      'several scopes, only the exceeded ones',
      [counted('ip', 'ip.recipients', '100/1h', 7), counted('sender_domain', 'sender_domain.recipients', '5/1m', 6), counted('user', 'quota.recipients_per_day', '20/1d', 21, true)],
      [{ scope: 'sender_domain', limit: 'sender_domain.recipients 5/1m' }, { scope: 'user', limit: 'quota.recipients_per_day 20/1d', quota: true }],
    ],
  ];
  for (const [name, input, expected] of rows) it(name, () => assert.deepEqual(rateExceeded(input), expected));
});

describe('userWindows', () => {
  const policy = limits('[user]\nmessages = ["200/1h", "2000/1d"]\nrecipients = "1000/1h"\n');
  const summary = (windows: ReturnType<typeof userWindows>) => windows.map((w) => `${w.name} ${w.window.text}${w.quota ? ' (quota)' : ''}`);
  const rows: ReadonlyArray<readonly [string, Parameters<typeof userWindows>[0], Parameters<typeof userWindows>[1], string[]]> = [
    ['no quota: the [user] defaults', 'messages', undefined, ['user.messages 200/1h', 'user.messages 2000/1d']],
    ['a quota replaces the defaults of its kind', 'messages', { messagesPerHour: 10 }, ['quota.messages_per_hour 10/1h (quota)']],
    ['both windows of the quota', 'messages', { messagesPerHour: 10, messagesPerDay: 50 }, ['quota.messages_per_hour 10/1h (quota)', 'quota.messages_per_day 50/1d (quota)']],
    ['a message quota leaves the recipient defaults', 'recipients', { messagesPerHour: 10 }, ['user.recipients 1000/1h']],
    ['a recipient quota', 'recipients', { recipientsPerDay: 30 }, ['quota.recipients_per_day 30/1d (quota)']],
  ];
  for (const [name, kind, quota, expected] of rows) it(name, () => assert.deepEqual(summary(userWindows(kind, quota, policy)), expected));
});

describe('clientKey', () => {
  const rows: ReadonlyArray<readonly [string, number, number, string]> = [
    ['192.0.2.7', 32, 64, '192.0.2.7'],
    ['::ffff:192.0.2.7', 32, 64, '192.0.2.7'],
    ['192.0.2.7', 24, 64, '192.0.2.0/24'],
    ['2001:db8:1:2:a:b:c:d', 32, 64, '2001:db8:1:2::/64'],
    ['2001:db8:1:2:ffff::1', 32, 64, '2001:db8:1:2::/64'],
    ['2001:db8:1:2:a:b:c:d', 32, 48, '2001:db8:1::/48'],
    ['2001:db8::1', 32, 128, '2001:db8::1'],
  ];
  for (const [ip, v4, v6, expected] of rows) it(`${ip} /${v4} /${v6}`, () => assert.equal(clientKey(ip, v4, v6), expected));
});

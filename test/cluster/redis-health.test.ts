// RedisHealth, the shared store's state machine, with a fixed clock (part of
// npm test: no Redis needed). One error line when an outage starts and one
// line when it ends, however many operations fail or are skipped in between;
// error replies fail an operation without starting an outage and are logged
// at most once a minute; the counts the dashboard shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RedisHealth } from '../../src/cluster/redis-health.ts';
import { captureLogger } from '../helpers/dnsbl-fixtures.ts';

function setup(failOpen = true) {
  let clock = 1_000_000;
  const log = captureLogger();
  const health = new RedisHealth({ address: 'redis://127.0.0.1:6379', failOpen, logger: log.logger, now: () => clock });
  return { health, log, advance: (ms: number) => (clock += ms), events: () => log.lines.map((line) => line.event) };
}

const replyError = (): Error => Object.assign(new Error('NOPERM this user has no permissions to run the eval command'), { name: 'ReplyError' });

test('connecting, up, an outage with many failures and skips logged once, then up again with what it cost', () => {
  const { health, log, advance, events } = setup();
  assert.equal(health.state, 'connecting');
  assert.equal(health.usable, false);
  health.markUp();
  assert.deepEqual(events(), ['cluster.redis.connected']);
  advance(1000);
  for (let i = 0; i < 5; i++) health.operationFailed(new Error('Command timed out'), true);
  for (let i = 0; i < 100; i++) health.skipped();
  health.markDown(new Error('connection closed'));
  assert.deepEqual(events(), ['cluster.redis.connected', 'cluster.redis.down']);
  const down = log.lines[1];
  assert.equal(down?.level, 50);
  assert.equal(down?.error, 'Command timed out');
  assert.match(String(down?.msg), /each instance counts on its own/);
  assert.equal(health.usable, false);
  advance(4000);
  health.markUp();
  health.markUp();
  assert.deepEqual(events(), ['cluster.redis.connected', 'cluster.redis.down', 'cluster.redis.up']);
  assert.deepEqual([log.lines[2]?.down_ms, log.lines[2]?.failed, log.lines[2]?.skipped], [4000, 4, 100]);
  assert.deepEqual(health.status(), {
    address: 'redis://127.0.0.1:6379', state: 'up', up: true, since: 1_005_000, outages: 1,
    failedOperations: 5, skippedOperations: 100, lastError: 'connection closed', failOpen: true,
  });
});

test('fail closed says so in the outage line', () => {
  const { health, log } = setup(false);
  health.markUp();
  health.markDown(new Error('connection closed'));
  assert.match(String(log.lines[1]?.msg), /refused with 4xx/);
  assert.equal(health.status().failOpen, false);
});

test('error replies fail the operation but are no outage, and are logged at most once a minute', () => {
  const { health, advance, events } = setup();
  health.markUp();
  for (let i = 0; i < 50; i++) health.operationFailed(replyError(), false);
  assert.equal(health.usable, true);
  assert.deepEqual(events(), ['cluster.redis.connected', 'cluster.redis.error']);
  advance(59_000);
  health.operationFailed(replyError(), false);
  assert.equal(events().length, 2);
  advance(1_000);
  health.operationFailed(replyError(), false);
  assert.deepEqual(events(), ['cluster.redis.connected', 'cluster.redis.error', 'cluster.redis.error']);
  assert.equal(health.status().failedOperations, 52);
  assert.equal(health.status().outages, 0);
});

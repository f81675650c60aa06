// config.toml [cluster]: defaults, and the problems `relayguard check` reports
// as file:line (an instance name is required with redis, since it prefixes
// queue ids; the URL must be redis:// or rediss://).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfigText } from '../../src/config/load-config.ts';
import { isQueueId, createQueueIdGenerator } from '../../src/spool/queue-id.ts';

const BASE = 'hostname = "relay.example.test"\n[[listeners]]\naddress = "127.0.0.1:0"\nrole = "mx"\n';

test('defaults: no Redis, fail open, 200 ms, the relayguard: prefix, shared DNSBL cache', () => {
  const result = validateConfigText('config.toml', BASE);
  assert.ok(result.ok);
  assert.deepEqual(result.value.cluster, { fail_open: true, command_timeout: 200, key_prefix: 'relayguard:', shared_dnsbl_cache: true });
});

test('a full [cluster] table parses', () => {
  const result = validateConfigText('config.toml', `${BASE}[cluster]\nredis = "rediss://:pw@cache.example:6380/2"\ninstance = "edge-1"\nfail_open = false\ncommand_timeout = "50ms"\nkey_prefix = "mx:"\n`);
  assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
  assert.equal(result.value.cluster.command_timeout, 50);
  assert.equal(result.value.cluster.fail_open, false);
});

const problems: Array<[string, string, RegExp]> = [
  ['redis without an instance name', '[cluster]\nredis = "redis://127.0.0.1:6379"\n', /cluster\.instance is required with cluster\.redis/],
  ['not a redis URL', '[cluster]\nredis = "127.0.0.1:6379"\ninstance = "a"\n', /redis: write redis:\/\/host:port/],
  ['an instance name with a dot', '[cluster]\ninstance = "relay.1"\n', /letters, digits and dashes/],
  ['an instance name too long for queue ids', `[cluster]\ninstance = "${'a'.repeat(64)}"\n`, /63/],
];
for (const [name, table, message] of problems) {
  test(`refused: ${name}, with its line`, () => {
    const result = validateConfigText('config.toml', BASE + table);
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.ok(result.problems.some((p) => message.test(p.message) && p.line > 4), JSON.stringify(result.problems));
  });
}

test('the longest instance name allowed still makes valid queue ids', () => {
  const next = createQueueIdGenerator({ instance: 'a'.repeat(63), now: () => 1_700_000_000_000 });
  assert.equal(isQueueId(next()), true);
});

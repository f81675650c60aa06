// Table tests: routing order, destination limits, loop-guard address matching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { destinationFor, groupByDestination, recipientDomain } from '../../src/delivery/routing.ts';
import { DestinationLimiter } from '../../src/delivery/destination-limiter.ts';
import { isOwnAddress } from '../../src/delivery/loop-guard.ts';
import { testConfig } from '../helpers/spool-fixtures.ts';

const routed = testConfig(
  '/tmp/unused',
  ['mode = "smarthost"', '[delivery.smarthost]', 'hosts = ["10.0.0.1:25"]', '[[delivery.routes]]', 'domains = ["example.org", ".corp.test"]', 'hosts = ["10.0.0.5:2525"]'].join('\n'),
).delivery;
const mx = testConfig('/tmp/unused', 'mode = "mx"').delivery;

test('routes win over the smarthost, the smarthost over MX', () => {
  const table: Array<[string, typeof routed, string]> = [
    ['a@example.org', routed, 'route:0'],
    ['a@EXAMPLE.org.', routed, 'route:0'],
    ['a@x.corp.test', routed, 'route:0'],
    ['a@corp.test', routed, 'smarthost'],
    ['a@sub.example.org', routed, 'smarthost'],
    ['a@other.test', routed, 'smarthost'],
    ['a@other.test', mx, 'mx:other.test'],
    ['a@b\u00fccher.test', mx, 'mx:xn--bcher-kva.test'],
  ];
  for (const [rcpt, config, key] of table) assert.equal(destinationFor(rcpt, config).key, key, rcpt);
  assert.equal(recipientDomain('x@[192.0.2.1]'), '[192.0.2.1]');
  const groups = groupByDestination(['a@one.test', 'b@two.test', 'c@one.test', 'a@one.test'], mx);
  assert.deepEqual(groups.map((g) => [g.destination.key, g.recipients]), [['mx:one.test', ['a@one.test', 'c@one.test']], ['mx:two.test', ['b@two.test']]]);
});

test('destination limiter: concurrency per destination and messages per minute', () => {
  const limiter = new DestinationLimiter(2, 3);
  assert.deepEqual(limiter.check('d', 0), { ok: true });
  limiter.started('d', 0);
  limiter.started('d', 1);
  assert.deepEqual(limiter.check('d', 2), { ok: false }, 'busy');
  assert.deepEqual(limiter.check('e', 2), { ok: true }, 'other destinations are independent');
  limiter.finished('d');
  limiter.started('d', 10);
  limiter.finished('d');
  limiter.finished('d');
  assert.deepEqual(limiter.check('d', 20), { ok: false, retryAt: 60_000 }, 'three in the last minute');
  assert.deepEqual(limiter.check('d', 60_000), { ok: true });
  const unlimited = new DestinationLimiter(1, 0);
  unlimited.started('d', 0);
  unlimited.finished('d');
  for (let i = 0; i < 100; i++) {
    assert.deepEqual(unlimited.check('d', i), { ok: true });
    unlimited.started('d', i);
    unlimited.finished('d');
  }
});

test('loop guard: own addresses by address and port, wildcard listeners match local interfaces', () => {
  const own = [{ host: '127.0.0.1', port: 25 }, { host: '0.0.0.0', port: 2525 }];
  const table: Array<[string, number, boolean]> = [
    ['127.0.0.1', 25, true],
    ['::ffff:127.0.0.1', 25, true],
    ['127.0.0.1', 26, false],
    ['127.0.0.2', 25, false],
    ['127.0.0.1', 2525, true],
    ['192.0.2.55', 2525, false],
  ];
  for (const [address, port, want] of table) assert.equal(isOwnAddress(address, port, own), want, `${address}:${port}`);
});

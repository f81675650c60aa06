// MX resolution against the loopback DNS server (no delivery): ordering,
// equal-preference shuffling, and how DNS failures are classed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMxResolver } from '../../src/delivery/mx-resolver.ts';
import { createDnsResolver } from '../../src/config/dns.ts';
import { parseHostPort } from '../../src/net/host-port.ts';
import { captureLogger } from '../helpers/spool-fixtures.ts';
import { startDnsServer } from '../helpers/dns-server.ts';

test('MX resolution: preference order, random among equals, skips, implicit MX, NXDOMAIN, SERVFAIL, null MX', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  const resolver = createDnsResolver({ servers: [parseHostPort(dns.address) as { host: string; port: number }], timeout: 1500, tries: 1 });
  const { logger, lines } = captureLogger();
  let nextRandom = [0.9, 0.1, 0.5];
  const resolve = createMxResolver({ dns: resolver, logger, port: 25, ownAddresses: () => [], random: () => nextRandom.shift() ?? 0.5 });

  dns.add({ name: 'eq.test', type: 'MX', data: { preference: 10, exchange: 'a.eq.test' } });
  dns.add({ name: 'eq.test', type: 'MX', data: { preference: 10, exchange: 'b.eq.test' } });
  dns.add({ name: 'eq.test', type: 'MX', data: { preference: 5, exchange: 'best.eq.test' } });
  dns.add({ name: 'eq.test', type: 'MX', data: { preference: 20, exchange: 'gone.eq.test' } });
  dns.add({ name: 'a.eq.test', type: 'A', data: '192.0.2.1' });
  dns.add({ name: 'b.eq.test', type: 'A', data: '192.0.2.2' });
  dns.add({ name: 'best.eq.test', type: 'A', data: '192.0.2.5' });
  dns.add({ name: 'best.eq.test', type: 'AAAA', data: '2001:db8::5' });
  const ordered = await resolve('eq.test');
  assert.equal(ordered.kind, 'hosts');
  // random: a=0.9, b=0.1, best=0.5 -> b before a among the equal pair; IPv4 before IPv6.
  assert.deepEqual(ordered.kind === 'hosts' && ordered.hosts.map((h) => `${h.name}/${h.address}`), [
    'best.eq.test/192.0.2.5',
    'best.eq.test/2001:db8::5',
    'b.eq.test/192.0.2.2',
    'a.eq.test/192.0.2.1',
  ]);
  assert.ok(lines.some((l) => l.msg === 'MX exchange has no address, skipped' && l.exchange === 'gone.eq.test'));

  nextRandom = [0.1, 0.9, 0.5];
  const again = await resolve('eq.test');
  assert.deepEqual(again.kind === 'hosts' && again.hosts.slice(2).map((h) => h.name), ['a.eq.test', 'b.eq.test']);

  dns.add({ name: 'bare.test', type: 'A', data: '192.0.2.9' });
  assert.deepEqual(await resolve('bare.test'), { kind: 'hosts', hosts: [{ name: 'bare.test', address: '192.0.2.9', preference: 0 }] });

  dns.add({ name: 'null.test', type: 'MX', data: { preference: 0, exchange: '.' } });
  assert.equal((await resolve('null.test')).kind, 'permanent');
  const missing = await resolve('nowhere.test');
  assert.deepEqual([missing.kind, missing.kind === 'permanent' && missing.enhanced], ['permanent', '5.1.2']);
  dns.servfail('broken.test');
  assert.equal((await resolve('broken.test')).kind, 'temporary');
  dns.timeout('slow.test');
  assert.equal((await resolve('slow.test')).kind, 'temporary');
  assert.deepEqual(await resolve('[192.0.2.77]'), { kind: 'hosts', hosts: [{ name: '[192.0.2.77]', address: '192.0.2.77', preference: 0 }] });
});

// npm test: own process (DNS lookups with timeouts of a few hundred ms: they timed out in a shared process under load)
// reject_unknown_sender_domain's lookup against a real DNS server on
// loopback: every status, the timeout bound, the cache and single-flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDnsServer } from '../helpers/dns-server.ts';
import { createDnsResolver } from '../../src/config/dns.ts';
import { SenderDomainLookup } from '../../src/facts/sender-domain/sender-domain-lookup.ts';

const SETTINGS = { timeout: 2000, cacheTtl: 60_000 };

async function setup(t: { after: (fn: () => Promise<void> | void) => void }, resolverTimeout = 1500) {
  const dns = await startDnsServer();
  const resolver = createDnsResolver({ servers: [{ host: dns.host, port: dns.port }], timeout: resolverTimeout, tries: 1 });
  t.after(async () => {
    resolver.cancel();
    await dns.close();
  });
  dns.add({ name: 'mx.example', type: 'MX', data: { preference: 10, exchange: 'mail.mx.example' } });
  dns.add({ name: 'nullmx.example', type: 'MX', data: { preference: 0, exchange: '.' } });
  dns.add({ name: 'implicit.example', type: 'A', data: '192.0.2.10' });
  dns.add({ name: 'implicit6.example', type: 'AAAA', data: '2001:db8::10' });
  dns.add({ name: 'textonly.example', type: 'TXT', data: 'v=spf1 -all' });
  dns.servfail('broken.example');
  dns.timeout('silent.example');
  return { dns, lookup: new SenderDomainLookup(resolver) };
}

test('each kind of domain gets its status', async (t) => {
  const { lookup } = await setup(t);
  const rows: ReadonlyArray<readonly [string, string]> = [
    ['mx.example', 'ok'],
    ['implicit.example', 'ok'],
    ['implicit6.example', 'ok'],
    ['nullmx.example', 'null_mx'],
    ['nowhere.example', 'nxdomain'],
    ['textonly.example', 'nxdomain'], // exists, but neither MX nor address: nowhere to send a bounce
    ['broken.example', 'temp_fail'],
  ];
  for (const [domain, status] of rows) assert.equal((await lookup.check(domain, SETTINGS)).status, status, domain);
});

test('a lookup that takes too long is a temporary failure at the check timeout, not the resolver\'s', async (t) => {
  const { lookup } = await setup(t, 60_000); // the resolver alone would wait a minute
  const first = await lookup.check('silent.example', { timeout: 100, cacheTtl: 60_000 });
  assert.equal(first.status, 'temp_fail');
  // The DNS query is still out (the resolver's own timeout is far away), so
  // the check above returned at its own bound: the next one joins that query.
  const second = await lookup.check('silent.example', { timeout: 100, cacheTtl: 60_000 });
  assert.deepEqual(second, { status: 'temp_fail', source: 'shared' });
});

test('answers are cached, failures are not; concurrent checks share one lookup', async (t) => {
  const { dns, lookup } = await setup(t);
  assert.equal((await lookup.check('nowhere.example', SETTINGS)).source, 'miss');
  assert.deepEqual(await lookup.check('nowhere.example', SETTINGS), { status: 'nxdomain', source: 'hit' });
  assert.equal(dns.queries('nowhere.example', 'MX'), 1);

  await lookup.check('broken.example', SETTINGS);
  await lookup.check('broken.example', SETTINGS);
  assert.equal(dns.queries('broken.example', 'MX'), 2, 'a failure is asked again');

  dns.delay('mx.example', 100);
  const results = await Promise.all(Array.from({ length: 5 }, () => lookup.check('mx.example', SETTINGS)));
  assert.deepEqual(results.map((r) => r.status), ['ok', 'ok', 'ok', 'ok', 'ok']);
  assert.deepEqual(results.map((r) => r.source).sort(), ['miss', 'shared', 'shared', 'shared', 'shared']);
  assert.equal(dns.queries('mx.example', 'MX'), 1);

  const uncached = await lookup.check('implicit.example', { ...SETTINGS, cacheTtl: 0 });
  assert.equal(uncached.status, 'ok');
  assert.equal((await lookup.check('implicit.example', { ...SETTINGS, cacheTtl: 0 })).source, 'miss', 'cache_ttl 0: never cached');
});

// npm test: own process (DNS lookups with timeouts of a few hundred ms: they timed out in a shared process under load)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { startDnsServer } from './dns-server.ts';

test('the test DNS server answers A, MX, TXT, NXDOMAIN, SERVFAIL and timeouts over UDP', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  dns.add({ name: '2.0.0.127.zen.test', type: 'A', data: '127.0.0.2', ttl: 60 });
  dns.add({ name: '2.0.0.127.zen.test', type: 'TXT', data: 'listed for testing' });
  dns.add({ name: 'example.test', type: 'MX', data: { preference: 10, exchange: 'mx1.example.test' } });
  dns.servfail('broken.test');
  dns.timeout('slow.test');
  const resolver = new Resolver({ timeout: 1500, tries: 1 });
  resolver.setServers([dns.address]);
  assert.deepEqual(await resolver.resolve4('2.0.0.127.zen.test'), ['127.0.0.2']);
  assert.deepEqual(await resolver.resolveTxt('2.0.0.127.zen.test'), [['listed for testing']]);
  // Node 24 adds type: 'MX' to each record; the answer is its priority and exchange.
  const mx = (await resolver.resolveMx('example.test')).map(({ priority, exchange }) => ({ priority, exchange }));
  assert.deepEqual(mx, [{ priority: 10, exchange: 'mx1.example.test' }]);
  await assert.rejects(resolver.resolve4('3.0.0.127.zen.test'), { code: 'ENOTFOUND' });
  await assert.rejects(resolver.resolve4('broken.test'), { code: 'ESERVFAIL' });
  await assert.rejects(resolver.resolve4('slow.test'), { code: 'ETIMEOUT' });
  assert.equal(dns.queries('2.0.0.127.zen.test', 'A'), 1);
});

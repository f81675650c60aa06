// npm test: own process (DNS lookups with timeouts of a few hundred ms: they timed out in a shared process under load)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getServers } from 'node:dns';
import { startDnsServer } from '../helpers/dns-server.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { classifyDnsError, DnsLookupError, formatDnsServer } from '../../src/net/dns-resolver.ts';
import { createDnsResolver } from '../../src/config/dns.ts';

test('createDnsResolver uses the configured servers, timeout and tries', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  dns.add({ name: 'mx.example.test', type: 'A', data: '192.0.2.25', ttl: 42 });
  dns.timeout('slow.example.test');
  const resolver = createDnsResolver({ servers: [{ host: dns.host, port: dns.port }], timeout: 400, tries: 2 });
  assert.deepEqual(resolver.getServers(), [dns.address]);
  assert.deepEqual(await resolver.resolve4('mx.example.test', { ttl: true }), [{ address: '192.0.2.25', ttl: 42 }]);
  await assert.rejects(resolver.resolve4('slow.example.test'), (error) => classifyDnsError(error) === 'timeout');
  assert.equal(dns.queries('slow.example.test'), 2, 'tries = 2');
});

test('an IPv6 resolver address is written in brackets', async (t) => {
  let dns;
  try {
    dns = await startDnsServer('::1');
  } catch {
    t.skip('no IPv6 loopback on this machine');
    return;
  }
  t.after(() => dns.close());
  dns.add({ name: 'v6.example.test', type: 'A', data: '192.0.2.6' });
  assert.equal(formatDnsServer({ host: '::1', port: dns.port }), `[::1]:${dns.port}`);
  const resolver = createDnsResolver({ servers: [{ host: '::1', port: dns.port }], timeout: 1500, tries: 1 });
  assert.deepEqual(await resolver.resolve4('v6.example.test'), ['192.0.2.6']);
});

test('an empty server list keeps the system resolvers; a host name is refused', () => {
  const system = createDnsResolver({ servers: [], timeout: 100, tries: 1 });
  assert.deepEqual(system.getServers(), getServers());
  assert.throws(
    () => createDnsResolver({ servers: [{ host: 'dns.example.test', port: 53 }], timeout: 100, tries: 1 }, 'config.toml'),
    (error) => error instanceof ConfigError && /dns\.servers: "dns\.example\.test" is not an IP address/.test(error.message),
  );
});

test('c-ares error codes map to failure kinds', () => {
  const table: Array<[unknown, string]> = [
    [{ code: 'ENOTFOUND' }, 'nxdomain'],
    [{ code: 'ENODATA' }, 'nodata'],
    [{ code: 'ETIMEOUT' }, 'timeout'],
    [{ code: 'ESERVFAIL' }, 'servfail'],
    [{ code: 'EREFUSED' }, 'refused'],
    [{ code: 'ECONNREFUSED' }, 'refused'],
    [{ code: 'ECANCELLED' }, 'cancelled'],
    [{ code: 'EBADRESP' }, 'other'],
    [new Error('x'), 'other'],
    [null, 'other'],
  ];
  for (const [error, kind] of table) assert.equal(classifyDnsError(error), kind, JSON.stringify(error));
  const error = new DnsLookupError('mx.example.test', 'timeout', { cause: new Error('ETIMEOUT') });
  assert.deepEqual([error.code, error.kind, error.temporary], ['DNS_LOOKUP_FAILED', 'timeout', true]);
});

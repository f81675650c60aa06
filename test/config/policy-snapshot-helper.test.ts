import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makePolicySnapshot } from '../helpers/policy-snapshot.ts';

test('makePolicySnapshot builds through the real parsers and refuses bad lines', () => {
  const snapshot = makePolicySnapshot({ relayNetworks: ['10.0.0.0/8'], denylist: ['192.0.2.0/24 spam'], localDomains: ['Example.TEST'] });
  assert.equal(snapshot.relayNetworks.contains('::ffff:10.1.2.3'), true);
  assert.equal(snapshot.denylist.lookup('192.0.2.9')?.reason, 'spam');
  assert.equal(snapshot.localDomains.has('example.test'), true);
  assert.equal(snapshot.allowlist.size, 0);
  assert.equal(snapshot.config.hostname, 'relay.example.test');
  assert.throws(() => makePolicySnapshot({ relayNetworks: ['10.0.0.1/8'] }), /relay-networks:1: .*host bits set/);
});

// Which next hop a recipient probe asks (issue 16): the delivery route or
// smarthost of the address; MX-delivered domains are not verified live.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verificationRoute } from '../../src/delivery/verification-route.ts';
import { testConfig } from '../helpers/spool-fixtures.ts';

test('route first, then the smarthost; MX mode has no next hop to ask', () => {
  const smarthost = testConfig('/tmp', `mode = "smarthost"
[delivery.smarthost]
hosts = ["192.0.2.25:2525"]
tls = "none"
[[delivery.routes]]
domains = ["routed.test"]
hosts = ["192.0.2.26:25", "192.0.2.27:25"]
auth_user = "probe"
auth_password = "secret"`);
  const routed = verificationRoute('a@routed.test', smarthost);
  assert.equal(routed?.label, 'route:0 192.0.2.26:25,192.0.2.27:25');
  assert.deepEqual(routed?.hosts, [{ host: '192.0.2.26', port: 25 }, { host: '192.0.2.27', port: 25 }]);
  assert.deepEqual(routed?.auth, { user: 'probe', pass: 'secret' });
  assert.equal(verificationRoute('b@other.test', smarthost)?.label, 'smarthost 192.0.2.25:2525');
  assert.equal(verificationRoute('b@other.test', smarthost), verificationRoute('c@third.test', smarthost), 'one hop object per upstream');

  const mx = testConfig('/tmp', 'mode = "mx"');
  assert.equal(verificationRoute('a@example.test', mx), undefined);
});

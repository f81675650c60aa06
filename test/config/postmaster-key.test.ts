// config.toml `postmaster` (issue 16 item 4): optional, a plain local@domain,
// refused with file:line otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfigText } from '../../src/config/load-config.ts';
import { formatProblem } from '../../src/config/errors.ts';

const LISTENER = '[[listeners]]\naddress = "127.0.0.1:2525"\nrole = "mx"\n';

test('postmaster is optional and taken as written when it is an address', () => {
  const none = validateConfigText('/etc/relayguard/config.toml', `hostname = "relay.test"\n${LISTENER}`);
  assert.ok(none.ok);
  assert.equal(none.value.postmaster, undefined);
  const set = validateConfigText('/etc/relayguard/config.toml', `hostname = "relay.test"\npostmaster = "hostmaster@example.test"\n${LISTENER}`);
  assert.ok(set.ok);
  assert.equal(set.value.postmaster, 'hostmaster@example.test');
});

test('a postmaster that is not local@domain is refused with file and line', () => {
  for (const bad of ['postmaster', 'a@b@c.test', '<pm@example.test>', 'pm@', 'pm@[127.0.0.1]', 'p m@example.test']) {
    const result = validateConfigText('/etc/relayguard/config.toml', `hostname = "relay.test"\npostmaster = "${bad}"\n${LISTENER}`);
    assert.ok(!result.ok, bad);
    assert.match(result.problems.map(formatProblem).join('\n'), /config\.toml:2: postmaster: postmaster must be a plain address/, bad);
  }
});

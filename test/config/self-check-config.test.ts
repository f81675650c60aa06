// config.toml [self_check] and [delivery] listing_window (issue 19 item 3):
// defaults, and the problems `relayguard check` reports as file:line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfigText } from '../../src/config/load-config.ts';

const BASE = 'hostname = "relay.example.test"\n[[listeners]]\naddress = "127.0.0.1:0"\nrole = "mx"\n';

test('defaults: no addresses (off), every 30 minutes when listed; listings age out after 24h', () => {
  const result = validateConfigText('config.toml', BASE);
  assert.ok(result.ok);
  assert.deepEqual(result.value.self_check, { addresses: [], interval: 1_800_000 });
  assert.equal(result.value.delivery.listing_window, 86_400_000);
});

test('addresses are normalised; interval 0 turns the check off', () => {
  const result = validateConfigText('config.toml', `${BASE}[self_check]\naddresses = ["203.0.113.25", "2001:DB8:0:0::25"]\ninterval = "0"\n[delivery]\nlisting_window = "6h"\n`);
  assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
  assert.deepEqual(result.value.self_check, { addresses: ['203.0.113.25', '2001:db8::25'], interval: 0 });
  assert.equal(result.value.delivery.listing_window, 6 * 3_600_000);
});

const problems: Array<[string, string, RegExp, number]> = [
  ['a private address (behind NAT)', '[self_check]\naddresses = ["10.1.2.3"]\n', /"10\.1\.2\.3" is a private address: no public DNSBL lists it/, 6],
  ['a loopback address', '[self_check]\naddresses = ["::1"]\n', /loopback address/, 6],
  ['not an address', '[self_check]\naddresses = ["mail.example.org"]\n', /is not an IP address/, 6],
  ['an interval under a minute', '[self_check]\naddresses = ["203.0.113.25"]\ninterval = "10s"\n', /must be 0 \(off\) or at least 1m/, 7],
  ['an unknown key', '[self_check]\naddress = ["203.0.113.25"]\n', /Unrecognized key: "address"/, 5],
  ['a listing window under a minute', '[delivery]\nlisting_window = "30s"\n', /listing_window: must be at least 1m/, 6],
];
for (const [name, table, message, line] of problems) {
  test(`refused: ${name}, with its line`, () => {
    const result = validateConfigText('config.toml', BASE + table);
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.ok(result.problems.some((p) => message.test(p.message) && p.line === line), JSON.stringify(result.problems));
  });
}

// `relayguard check` and [self_check] (issue 19 item 3): a private address is
// a problem at its file:line (exit 1); addresses with no DNSBL zone to ask
// them in is a warning (exit 0).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCheck } from '../../src/cli/check.ts';
import { createPolicyFixture, MINIMAL_CONFIG } from '../helpers/policy-files.ts';
import { captureIo } from '../helpers/cli-run.ts';

const WITH_ADDRESSES = `${MINIMAL_CONFIG}[self_check]\naddresses = ["203.0.113.25"]\n`;

test('check: a private self-check address is refused with its line', async (t) => {
  const fixture = await createPolicyFixture({}, `${MINIMAL_CONFIG}[self_check]\naddresses = ["192.168.1.10"]\n`);
  t.after(() => fixture.cleanup());
  const { io, out, err } = captureIo();
  assert.equal(await runCheck(['--config', fixture.configFile], io), 1);
  assert.equal(out(), '');
  assert.match(err(), new RegExp(`^${fixture.configFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:7: \\[self_check\\] addresses\\[0\\]: "192\\.168\\.1\\.10" is a private address`, 'm'));
});

test('check: addresses but no IP zone to ask is a warning, not a failure; with a zone, no warning', async (t) => {
  const none = await createPolicyFixture({}, WITH_ADDRESSES);
  t.after(() => none.cleanup());
  const first = captureIo();
  assert.equal(await runCheck(['--config', none.configFile], first.io), 0);
  assert.match(first.err(), /warning: \[self_check\] addresses are set, but policies\/dnsbl\.toml has no IP zone with a weight >= 0/);

  const allowOnly = await createPolicyFixture({ 'dnsbl.toml': '[[zones]]\nzone = "list.dnswl.example"\nweight = -1\n' }, WITH_ADDRESSES);
  t.after(() => allowOnly.cleanup());
  const second = captureIo();
  assert.equal(await runCheck(['--config', allowOnly.configFile], second.io), 0);
  assert.match(second.err(), /no IP zone with a weight >= 0/, 'an allow list is not asked');

  const zone = await createPolicyFixture({ 'dnsbl.toml': '[[zones]]\nzone = "zen.spamhaus.example"\n' }, WITH_ADDRESSES);
  t.after(() => zone.cleanup());
  const third = captureIo();
  assert.equal(await runCheck(['--config', zone.configFile], third.io), 0);
  assert.doesNotMatch(third.err(), /self_check/);
});

// config.toml [accounts] (issue 19 item 2): defaults, and the problems
// `relayguard check` reports as file:line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfigText } from '../../src/config/load-config.ts';
import { RELOAD_KEYS } from '../../src/config/reload-keys.ts';

const BASE = 'hostname = "relay.example.test"\n[[listeners]]\naddress = "127.0.0.1:0"\nrole = "mx"\n';

test('defaults: on, every trigger holds, floors 300 messages / 100 domains / 5 networks / 20 answers', () => {
  const result = validateConfigText('config.toml', BASE);
  assert.ok(result.ok);
  const a = result.value.accounts;
  assert.equal(a.enabled, true);
  assert.equal(a.baseline_half_life, 7 * 86_400_000);
  assert.deepEqual(a.volume, { factor: 5, floor: 300, window: 3_600_000, action: 'hold' });
  assert.deepEqual(a.recipient_domains, { factor: 5, floor: 100, window: 3_600_000, action: 'hold' });
  assert.deepEqual(a.login_networks, { floor: 5, window: 3_600_000, action: 'hold' });
  assert.deepEqual(a.remote_refusals, { floor: 20, share: 0.5, window: 3_600_000, action: 'hold' });
  assert.deepEqual(a.new_sender, { action: 'hold' });
  assert.equal(a.state_file, 'accounts.json');
});

test('thresholds reload; where the state lives and whether detection runs need a restart', () => {
  const keys = Object.entries(RELOAD_KEYS).filter(([key]) => key.startsWith('accounts.'));
  assert.ok(keys.length >= 17);
  for (const [key, effect] of keys) assert.equal(effect, key === 'accounts.enabled' || key === 'accounts.state_file' ? 'restart' : 'reload', key);
});

const problems: Array<[string, string, number, RegExp]> = [
  ['an unknown action', '[accounts.volume]\naction = "quarantine"\n', 6, /accounts\.volume\.action: .*"log"\|"hold"\|"lock"/],
  ['a factor under 1', '[accounts.recipient_domains]\nfactor = 0.5\n', 6, /accounts\.recipient_domains\.factor: .*>=1/],
  ['a share over 1', '[accounts.remote_refusals]\nshare = 1.5\n', 6, /share/],
  ['a bad window', '[accounts.login_networks]\nwindow = "an hour"\n', 6, /invalid duration/],
  // An unknown key is reported at its table's line.
  ['an unknown key', '[accounts]\nvolume_floor = 10\n', 5, /volume_floor/],
];
for (const [name, table, line, message] of problems) {
  test(`[accounts] problem, as file:line: ${name}`, () => {
    const result = validateConfigText('config.toml', BASE + table);
    assert.equal(result.ok, false);
    assert.ok(!result.ok);
    const [problem] = result.problems;
    assert.ok(problem, 'one problem');
    assert.match(problem.message, message);
    assert.equal(problem.line, line, JSON.stringify(result.problems));
  });
}

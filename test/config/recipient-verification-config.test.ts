// config.toml [recipient_verification] (issue 16, live recipient verification):
// defaults, file:line errors from `check`'s loader, and which keys reload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadPolicy } from '../../src/config/load-policy.ts';
import { formatProblem } from '../../src/config/errors.ts';
import { RELOAD_KEYS } from '../../src/config/reload-keys.ts';
import { createPolicyFixture, MINIMAL_CONFIG } from '../helpers/policy-files.ts';

test('defaults: off, 8 s budget, the Postfix address_verify_* times, checked-sender DSNs', async (t) => {
  const fixture = await createPolicyFixture({ 'local-domains': 'example.test\n' });
  t.after(() => fixture.cleanup());
  const load = await loadPolicy(fixture.configFile);
  assert.equal(load.ok, true);
  if (!load.ok) return;
  const v = load.config.recipient_verification;
  assert.equal(v.enabled, false);
  assert.deepEqual(v.domains, []);
  assert.equal(v.timeout, 8_000);
  assert.equal(v.positive_ttl, 31 * 86_400_000);
  assert.equal(v.positive_refresh, 7 * 86_400_000);
  assert.equal(v.negative_ttl, 3 * 86_400_000);
  assert.equal(v.negative_refresh, 3 * 3_600_000);
  assert.equal(v.dsn_after_accept, 'checked_sender');
});

test('a domain that is not local, a bad duration and a refresh longer than its ttl are file:line errors', async (t) => {
  const config = `${MINIMAL_CONFIG}
[recipient_verification]
enabled = true
domains = ["example.test", "elsewhere.test"]
timeout = "soon"
negative_ttl = "1h"
`;
  const fixture = await createPolicyFixture({ 'local-domains': 'example.test\n' }, config);
  t.after(() => fixture.cleanup());
  const load = await loadPolicy(fixture.configFile);
  assert.equal(load.ok, false);
  if (load.ok) return;
  const lines = load.problems.map(formatProblem);
  const lineOf = (needle: string) => config.split('\n').findIndex((l) => l.includes(needle)) + 1;
  assert.ok(lines.some((l) => l.includes(`config.toml:${lineOf('timeout')}:`) && l.includes('invalid duration')), lines.join('\n'));

  const refresh = config.replace('timeout = "soon"\n', '');
  const third = await createPolicyFixture({ 'local-domains': 'example.test\n' }, refresh);
  t.after(() => third.cleanup());
  const shorter = await loadPolicy(third.configFile);
  assert.equal(shorter.ok, false);
  if (shorter.ok) return;
  const messages = shorter.problems.map(formatProblem);
  assert.ok(messages.some((l) => l.includes('negative_refresh must not be longer than negative_ttl')), messages.join('\n'));

  const fixed = refresh.replace('negative_ttl = "1h"\n', '');
  const second = await createPolicyFixture({ 'local-domains': 'example.test\n' }, fixed);
  t.after(() => second.cleanup());
  const again = await loadPolicy(second.configFile);
  assert.equal(again.ok, false);
  if (again.ok) return;
  assert.deepEqual(again.problems.map((p) => [p.line, p.message]), [
    [fixed.split('\n').findIndex((l) => l.startsWith('domains')) + 1, 'recipient_verification.domains: elsewhere.test is not in policies/local-domains (only local domains are verified)'],
  ]);
});

test('every setting reloads except the cache size', () => {
  const keys = Object.entries(RELOAD_KEYS).filter(([key]) => key.startsWith('recipient_verification.'));
  assert.equal(keys.length, 12);
  assert.deepEqual(keys.filter(([, effect]) => effect === 'restart').map(([key]) => key), ['recipient_verification.cache_size']);
});

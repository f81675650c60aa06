import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createSnapshot, formatSummary, loadPolicy } from '../../src/config/load-policy.ts';
import { formatProblem } from '../../src/config/errors.ts';
import { POLICY_FILES, policyFileNames } from '../../src/config/policy-files.ts';
import { createPolicyFixture, MINIMAL_CONFIG } from '../helpers/policy-files.ts';

test('every registered file kind loads; missing files are empty', async (t) => {
  const fixture = await createPolicyFixture({
    'relay-networks': '192.0.2.0/24\n::1\n',
    denylist: '198.51.100.0/24 spam\n',
    'local-domains': 'Example.TEST.\n',
    'users.toml': '[[users]]\nname = "alice"\nhash = "$scrypt$ln=10,r=8,p=1$naTOuqIEAyJ9oA/YwtzlmQ$62wb6tFvwRbfz/3wm7Ud6j+oMDrrHZBvj5ZvxLkI27M"\nsenders = ["alice@example.test"]\n',
  });
  t.after(() => fixture.cleanup());
  const load = await loadPolicy(fixture.configFile);
  assert.equal(load.ok, true, load.ok ? '' : load.problems.map(formatProblem).join('\n'));
  if (!load.ok) return;
  assert.equal(load.config.policiesDir, fixture.policiesDir);
  assert.equal(load.parts.relayNetworks.contains('::ffff:192.0.2.9'), true);
  assert.equal(load.parts.denylist.lookup('198.51.100.7')?.reason, 'spam');
  assert.equal(load.parts.allowlist.size, 0);
  assert.equal(load.parts.localDomains.has('example.test'), true);
  assert.equal(load.parts.users.get('alice')?.senders[0], 'alice@example.test');
  assert.equal(load.parts.dnsbl.zones.length, 0);
  assert.deepEqual(load.parts.limits, POLICY_FILES.limits.empty(), 'the default limits');
  assert.deepEqual(load.parts.checks, POLICY_FILES.checks.empty(), 'the default checks');
  assert.equal(
    formatSummary(load.files),
    'relay-networks 2 networks, allowlist absent, denylist 1 network, local-domains 1 domain, recipients absent, users.toml 1 user, dnsbl.toml absent, limits.toml absent, checks.toml absent',
  );
  assert.deepEqual(load.files.map((f) => f.fileName), policyFileNames());

  const snapshot = createSnapshot(load, 7, new Date(0));
  assert.equal(snapshot.generation, 7);
  assert.equal(Object.isFrozen(snapshot), true);
  assert.equal(snapshot.relayNetworks, load.parts.relayNetworks);
});

test('all problems of all files are collected, not just the first', async (t) => {
  const fixture = await createPolicyFixture({
    'relay-networks': '192.0.2.0/24\n10.0.0.1/8\nnope\n',
    allowlist: '2001:db8::/129\n',
    'local-domains': 'ok.example\n*.bad.example\n',
    'dnsbl.toml': 'threshold = \n',
  });
  t.after(() => fixture.cleanup());
  const load = await loadPolicy(fixture.configFile);
  assert.equal(load.ok, false);
  if (load.ok) return;
  const where = load.problems.map((p) => `${path.basename(p.file)}:${p.line}`).sort();
  assert.deepEqual(where, ['allowlist:1', 'dnsbl.toml:1', 'local-domains:2', 'relay-networks:2', 'relay-networks:3']);
});

test('an invalid config.toml does not hide the policy files problems', async (t) => {
  const fixture = await createPolicyFixture({ denylist: 'not-a-network\n' }, MINIMAL_CONFIG.replace('role = "mx"', 'role = "bogus"'));
  t.after(() => fixture.cleanup());
  const load = await loadPolicy(fixture.configFile);
  assert.equal(load.ok, false);
  if (load.ok) return;
  const where = load.problems.map((p) => `${path.basename(p.file)}:${p.line}`);
  assert.deepEqual(where, ['config.toml:5', 'denylist:1']);
});

test('a missing config file or policies directory is a problem, not a crash', async (t) => {
  const fixture = await createPolicyFixture({}, MINIMAL_CONFIG.replace('./policies', './nowhere'));
  t.after(() => fixture.cleanup());
  const missingDir = await loadPolicy(fixture.configFile);
  assert.equal(missingDir.ok, false);
  if (!missingDir.ok) assert.match(formatProblem(missingDir.problems[0]!), /policies_dir .*nowhere is not a directory/);

  const missingConfig = await loadPolicy(path.join(fixture.dir, 'absent.toml'));
  assert.equal(missingConfig.ok, false);
  if (!missingConfig.ok) assert.match(formatProblem(missingConfig.problems[0]!), /absent\.toml: cannot read/);
});

test('a policy file that cannot be read (a directory here) is reported', async (t) => {
  const fixture = await createPolicyFixture();
  t.after(() => fixture.cleanup());
  const { mkdir } = await import('node:fs/promises');
  await mkdir(path.join(fixture.policiesDir, 'allowlist'));
  const load = await loadPolicy(fixture.configFile);
  assert.equal(load.ok, false);
  if (!load.ok) assert.match(formatProblem(load.problems[0]!), /allowlist: cannot read/);
});

test('the registry has one kind per snapshot field and distinct file names', () => {
  const names = policyFileNames();
  assert.equal(new Set(names).size, names.length);
  assert.deepEqual(Object.keys(POLICY_FILES).sort(), ['allowlist', 'checks', 'denylist', 'dnsbl', 'limits', 'localDomains', 'recipients', 'relayNetworks', 'users']);
});

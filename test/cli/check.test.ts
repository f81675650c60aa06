// npm test: own process (it changes the working directory: process.chdir)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCheck } from '../../src/cli/check.ts';
import { createPolicyFixture, MINIMAL_CONFIG } from '../helpers/policy-files.ts';
import { captureIo } from '../helpers/cli-run.ts';


test('valid files: exit 0 and a one-line summary with counts per file', async (t) => {
  const fixture = await createPolicyFixture({ 'relay-networks': '192.0.2.0/24\n::1\n', 'local-domains': 'example.test\n' });
  t.after(() => fixture.cleanup());
  const { io, out, err } = captureIo();
  assert.equal(await runCheck(['--config', fixture.configFile], io), 0);
  assert.equal(err(), '');
  assert.equal(out().split('\n').length, 2, 'one line');
  assert.match(out(), /^ok .*config\.toml: relay-networks 2 networks, allowlist absent, denylist absent, local-domains 1 domain, recipients absent, users\.toml absent, dnsbl\.toml absent, limits\.toml absent, checks\.toml absent\n$/);
});

test('invalid files: exit 1 and every problem as file:line: problem', async (t) => {
  const fixture = await createPolicyFixture(
    { 'relay-networks': '192.0.2.0/24\n10.0.0.1/8\n', denylist: '# header\nnot-a-cidr spam\n', 'limits.toml': '[per_ip\n' },
    MINIMAL_CONFIG.replace('role = "mx"', 'role = "bogus"'),
  );
  t.after(() => fixture.cleanup());
  const { io, out, err } = captureIo();
  assert.equal(await runCheck([`--config=${fixture.configFile}`], io), 1);
  assert.equal(out(), '');
  const lines = err().trim().split('\n');
  const where = lines.slice(0, -1).map((line) => /^(.*?:\d+): /.exec(line)?.[1]);
  assert.deepEqual(where, [
    `${fixture.configFile}:5`,
    `${fixture.policiesDir}/relay-networks:2`,
    `${fixture.policiesDir}/denylist:2`,
    `${fixture.policiesDir}/limits.toml:1`,
  ]);
  assert.equal(lines.at(-1), 'check failed: 4 problems; a reload with these files would be refused');
});

test('usage errors exit 2', async () => {
  for (const argv of [['--config'], ['--bogus'], ['extra'], ['--config=']]) {
    const { io, err } = captureIo();
    assert.equal(await runCheck(argv, io), 2, argv.join(' '));
    assert.match(err(), /usage: relayguard check/);
  }
});

test('without --config: ./config.toml if present (paths shown relative), else say so', async (t) => {
  const fixture = await createPolicyFixture({ allowlist: 'oops\n' });
  const empty = await mkdtemp(path.join(os.tmpdir(), 'relayguard-check-'));
  const cwd = process.cwd();
  t.after(async () => {
    process.chdir(cwd);
    await fixture.cleanup();
    await rm(empty, { recursive: true, force: true });
  });

  process.chdir(fixture.dir);
  const found = captureIo();
  assert.equal(await runCheck([], found.io), 1);
  assert.match(found.err(), /^policies\/allowlist:1: "oops" is not an IP address/);

  process.chdir(empty);
  const missing = captureIo();
  assert.equal(await runCheck([], missing.io), 2);
  assert.match(missing.err(), /no config\.toml in .*; pass --config FILE/);
});

test('the shipped example configuration passes', async () => {
  const { io, out, err } = captureIo();
  assert.equal(await runCheck(['--config', path.resolve('config.example.toml')], io), 0, err());
  assert.match(out(), /relay-networks \d+ network/);
});

test('policies/recipients: counted in the summary, bad lines as file:line', async (t) => {
  const good = await createPolicyFixture({ 'local-domains': 'example.test\n', recipients: 'alice@example.test\nbob@example.test\n@catchall.test\n' });
  t.after(() => good.cleanup());
  const ok = captureIo();
  assert.equal(await runCheck(['--config', good.configFile], ok.io), 0);
  assert.match(ok.out(), /local-domains 1 domain, recipients 3 recipients, /);
  const bad = await createPolicyFixture({ 'local-domains': 'example.test\n', recipients: '# list\nalice@example.test\nnot-an-address\n' });
  t.after(() => bad.cleanup());
  const failed = captureIo();
  assert.equal(await runCheck(['--config', bad.configFile], failed.io), 1);
  assert.match(failed.err(), new RegExp(`^${bad.policiesDir}/recipients:3: `, 'm'));
});

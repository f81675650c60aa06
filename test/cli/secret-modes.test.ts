import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCheck } from '../../src/cli/check.ts';
import { createPolicyFixture, MINIMAL_CONFIG } from '../helpers/policy-files.ts';
import { captureIo } from '../helpers/cli-run.ts';

const WITH_KEY = `${MINIMAL_CONFIG}[tls]\ncert = "cert.pem"\nkey = "key.pem"\n\n[service]\nuser = "nobody"\ngroup = "nogroup"\n`;

test('check warns, and still exits 0, when the TLS key or users.toml is readable by others or another group', async (t) => {
  const fixture = await createPolicyFixture({ 'users.toml': '' }, WITH_KEY);
  t.after(() => fixture.cleanup());
  const key = path.join(fixture.dir, 'key.pem');
  const users = path.join(fixture.policiesDir, 'users.toml');
  await writeFile(path.join(fixture.dir, 'cert.pem'), 'not read by check\n');
  await writeFile(key, 'not read by check\n');

  await chmod(key, 0o644);
  await chmod(users, 0o604);
  let run = captureIo();
  assert.equal(await runCheck(['--config', fixture.configFile], run.io), 0);
  assert.match(run.out(), /^ok /);
  assert.deepEqual(run.err().trim().split('\n'), [
    `warning: ${users} is readable by every user (mode 604): chmod o-rwx ${users}`,
    `warning: ${key} is readable by every user (mode 644): chmod o-rwx ${key}`,
  ]);

  // Group-readable by a group that is not nogroup (the file's group is the test's own, never 65534 here).
  await chmod(key, 0o640);
  await chmod(users, 0o600);
  run = captureIo();
  assert.equal(await runCheck(['--config', fixture.configFile], run.io), 0);
  assert.match(run.err(), /^warning: .*key\.pem is readable by group \d+, not the service's group nogroup: chgrp nogroup .*key\.pem, or chmod g-rwx .*key\.pem\n$/);

  await chmod(key, 0o600);
  run = captureIo();
  assert.equal(await runCheck(['--config', fixture.configFile], run.io), 0);
  assert.equal(run.err(), '');
});

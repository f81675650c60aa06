import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCheck } from '../../src/cli/check.ts';
import { createPolicyFixture, MINIMAL_CONFIG } from '../helpers/policy-files.ts';
import { captureIo } from '../helpers/cli-run.ts';

test('check prints schema problems in admin wording, with file:line', async (t) => {
  const fixture = await createPolicyFixture(
    { 'dnsbl.toml': '[[zones]]\nzone = "a.example"\n\n[[zones]]\nweight = 2\n' },
    MINIMAL_CONFIG.replace('role = "mx"', 'role = "bogus"'),
  );
  t.after(() => fixture.cleanup());
  const { io, err } = captureIo();
  assert.equal(await runCheck(['--config', fixture.configFile], io), 1);
  const lines = err().trim().split('\n');
  assert.ok(lines.includes(`${fixture.configFile}:5: [[listeners]] role must be one of "mx" or "submission"`), err());
  assert.ok(lines.includes(`${fixture.policiesDir}/dnsbl.toml:4: [[zones]] needs zone = "..."`), err());
  assert.doesNotMatch(err(), /Invalid input|Invalid option/);
});

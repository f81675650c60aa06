// `relayguard` as an administrator runs it: bin/relayguard.js in a child
// process, for its real exit codes, stdout and stderr (explain, check, and
// serve with a broken config.toml). The in-process tests of these commands
// are explain-command.test.ts and check.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { explainFixture, type StageJson } from '../helpers/explain-fixture.ts';
import { HARNESS_LISTENERS } from '../helpers/relay-harness.ts';
import { makeTestConfig } from '../helpers/test-config.ts';
import { serve } from '../helpers/relay-process.ts';

const BIN = path.resolve('bin/relayguard.js');
const run = promisify(execFile);

test('`relayguard explain` through bin/relayguard.js: exit 1 for a refusal, and the decision', async (t) => {
  const { dir } = await explainFixture(t);
  // A refused session exits 1 (issue 22); the report is still on stdout.
  const failed = await run(process.execPath, [BIN, 'explain', '--ip', '192.0.2.10', '--from', 'a@other.example', '--rcpt', 'v@foreign.test', '--json', '--config', dir.configFile], { timeout: 60_000 }).then(
    () => assert.fail('explain exited 0 for a refused relay attempt'),
    (error: { code: number; stdout: string }) => error,
  );
  assert.equal(failed.code, 1);
  const stdout = failed.stdout;
  const report = JSON.parse(stdout) as { refused: string[]; stages: StageJson[] };
  assert.deepEqual(report.refused, ['v@foreign.test']);
  assert.equal(report.stages.find((s) => s.stage === 'rcpt')?.reason, 'relay.denied');
});

test('`relayguard check` on a broken policy file: exit 1 and file:line for every problem; fixed: exit 0', async (t) => {
  const { dir } = await explainFixture(t);
  await dir.writePolicy('relay-networks', '127.0.0.1\nnot-a-network\n');
  await dir.writePolicy('denylist', '# comment\n\n192.0.2.7/24   host bits set\n');
  const failed = await run(process.execPath, [BIN, 'check', '--config', 'config.toml'], { cwd: dir.dir, timeout: 60_000 }).then(
    () => assert.fail('check exited 0 on a broken file'),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
  assert.equal(failed.code, 1);
  const lines = failed.stderr.trim().split('\n');
  assert.ok(lines.some((l) => l.startsWith('policies/relay-networks:2: ')), failed.stderr);
  assert.ok(lines.some((l) => l.startsWith('policies/denylist:3: ')), failed.stderr);
  assert.match(lines.at(-1) ?? '', /^check failed: 2 problems/);
  assert.equal(failed.stdout, '');

  await dir.writePolicy('relay-networks', '127.0.0.1\n');
  await dir.writePolicy('denylist', '192.0.2.7/32   host\n');
  const ok = await run(process.execPath, [BIN, 'check', '--config', dir.configFile], { timeout: 60_000 });
  assert.match(ok.stdout, /^ok .*config\.toml: /);
});

test('a broken config.toml: file:line and exit 1, nothing started', async (t) => {
  const dir = await makeTestConfig(HARNESS_LISTENERS);
  t.after(() => dir.cleanup());
  const { writeFile } = await import('node:fs/promises');
  await writeFile(dir.configFile, 'hostname = "relay.test"\n[[listeners]]\naddress = "127.0.0.1:0"\nrole = "relay"\n');
  const run = serve(dir.configFile);
  run.started.catch(() => undefined);
  assert.equal(await run.exited, 1);
  assert.match(run.stderr(), /config\.toml:4: listeners\.role: Invalid option/);
});

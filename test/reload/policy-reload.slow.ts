// `relayguard serve` in a child process reloads its policy on a real SIGHUP
// and drains on SIGTERM: the slow half of policy-reload.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, smarthostTo } from '../helpers/relay-harness.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { makeTestConfig } from '../helpers/test-config.ts';

// As in policy-reload.test.ts.
const BASE_POLICIES = {
  'local-domains': 'example.test\n',
  'relay-networks': '127.0.0.1\n',
  denylist: '# refused at connect\n127.0.0.4   known spam source, ticket 4711\n',
};

test('`relayguard serve` reloads on a real SIGHUP', async (t) => {
  const sink = await startSmtpSink();
  const dir = await makeTestConfig(`log_level = "info"\n${HARNESS_LISTENERS}${smarthostTo(sink.port)}`, BASE_POLICIES);
  const child = spawn(process.execPath, [path.resolve('bin/relayguard.js'), 'serve', '--config', dir.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
    await sink.close();
    await dir.cleanup();
  });
  const lines: Array<Record<string, unknown>> = [];
  let buffer = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let index: number;
    while ((index = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, index);
      buffer = buffer.slice(index + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not JSON
      }
    }
  });
  await waitFor(() => lines.some((l) => l.event === 'relay.started'), 20_000, 'serve started');
  child.kill('SIGHUP');
  await waitFor(() => lines.some((l) => l.event === 'policy.reloaded' && l.reason === 'SIGHUP' && l.generation === 2), 10_000, 'reload logged');
  child.kill('SIGTERM');
  assert.equal(await exited, 0, 'still running after SIGHUP, and drains on SIGTERM');
});

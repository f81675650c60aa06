// A SIGKILLed writer loses nothing (a real child process, killed for real):
// the slow half of lifecycle.test.ts, run by npm run test:slow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openSpool } from '../../src/spool/spool.ts';
import { startQueueRunner } from '../../src/delivery/queue-runner.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { tempDir, testConfig } from '../helpers/spool-fixtures.ts';
import { waitFor } from '../helpers/wait-for.ts';

const smarthost = (address: string, extra = '') => `mode = "smarthost"\nretry_schedule = ["1h"]\n${extra}\n[delivery.smarthost]\nhosts = ["${address}"]`;
const logger = silentLogger();

test('a process SIGKILLed right after accept() resolved: the next start delivers each message exactly once', async (t) => {
  const dir = await tempDir(t);
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../helpers/spool-writer.ts', import.meta.url)), dir, '3'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  await waitFor(() => out.includes('\n'), 20_000, 'writer accepted');
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  const ids = JSON.parse(out) as string[];
  const spool = await openSpool({ dir, logger });
  assert.deepEqual([...spool.entries()].map(([id]) => id), ids);
  const runner = startQueueRunner({ spool, config: testConfig(dir, smarthost(sink.address)), logger });
  t.after(async () => {
    await runner.stop(1000);
    await spool.close();
  });
  await sink.waitFor(3);
  await waitFor(() => spool.stats().size === 0, 5000, 'spool empty');
  // stop() waits for attempts in flight: after it no delivery can start or finish.
  await runner.stop(1000);
  assert.deepEqual(sink.messages.map((m) => m.raw.toString().match(/Subject: (crash \d)/)?.[1]).sort(), ['crash 0', 'crash 1', 'crash 2']);
});

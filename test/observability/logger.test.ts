// The default destination batches stdout writes: nothing may be lost or held
// back for long because of it. Real child processes, real stdout pipes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WAIT_SCALE } from '../helpers/wait-for.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Runs `code` (ESM, cwd = repo) and collects its stdout until `until` holds or the child exits (bounded). */
function runChild(code: string, until: (stdout: string) => boolean): Promise<{ stdout: string; exited: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    let exited = false;
    const done = () => {
      clearTimeout(bound);
      if (!exited) child.kill('SIGKILL');
      resolve({ stdout, exited });
    };
    // A tsx child took over 20 s to start at load 20.
    const bound = setTimeout(done, 20_000 * WAIT_SCALE);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      if (until(stdout)) done();
    });
    child.once('error', reject);
    child.once('exit', () => {
      exited = true;
      setImmediate(done);
    });
  });
}

test('lines logged right before the process exits are all written (batched writes are flushed at exit)', async () => {
  const { stdout, exited } = await runChild(
    `import { createLogger } from './src/log/logger.ts';
     const logger = createLogger('info');
     for (let i = 0; i < 3; i++) logger.info({ n: i }, 'line');`,
    () => false,
  );
  assert.ok(exited);
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { n: number; msg: string });
  assert.deepEqual(lines.map((l) => l.n), [0, 1, 2]);
});

test('a lone line in a process that keeps running still reaches stdout (periodic flush, not only when the batch fills)', async () => {
  const { stdout, exited } = await runChild(
    `import { createLogger } from './src/log/logger.ts';
     createLogger('info').info({ lonely: true }, 'one line');
     setInterval(() => undefined, 1000);`,
    (out) => out.includes('\n'),
  );
  assert.equal(exited, false, 'the child was still running when the line arrived');
  assert.equal((JSON.parse(stdout.trim()) as { lonely: boolean }).lonely, true);
});

test('secrets in the objects we log are redacted, and every line carries an ISO time of its own millisecond', async () => {
  const { Writable } = await import('node:stream');
  const { createLogger } = await import('../../src/log/logger.ts');
  const lines: string[] = [];
  const logger = createLogger('info', new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(chunk.toString()), done()) }) as never);
  const before = Date.now();
  logger.info({ password: 'p1', attempt: { username: 'u', password: 'p2' }, target: { auth: { user: 'u', pass: 'p3' } }, upstream: { auth_password: 'p4' } }, 'auth');
  logger.info({ n: 2 }, 'second');
  const after = Date.now();
  assert.equal(lines.length, 2);
  const text = lines.join('');
  for (const secret of ['p1', 'p2', 'p3', 'p4']) assert.ok(!text.includes(`"${secret}"`), `${secret} leaked: ${text}`);
  const first = JSON.parse(lines[0]!) as { time: string; attempt: { username: string; password: string } };
  assert.equal(first.attempt.username, 'u');
  assert.equal(first.attempt.password, '[redacted]');
  for (const line of lines) {
    const time = Date.parse((JSON.parse(line) as { time: string }).time);
    assert.ok(time >= before && time <= after, `time ${time} outside [${before}, ${after}]`);
    assert.match((JSON.parse(line) as { time: string }).time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
});

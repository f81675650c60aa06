// Pty-free: with stdout piped (as under systemd, a log shipper or these
// tests), log_format = "auto" gives JSON lines, the worker's lines included
// (they go through the same destination).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const logger = fileURLToPath(new URL('../../src/log/logger.ts', import.meta.url));

test('piped stdout: auto writes JSON lines', async () => {
  const script = `
    import { chooseLogFormat, createLogger, destinationOf } from ${JSON.stringify(logger)};
    const log = createLogger('info', undefined, chooseLogFormat('auto', process.stdout.isTTY === true));
    log.info({ event: 'x' }, 'from the main logger');
    destinationOf(log.child({ component: 'delivery' })).write('{"level":30,"msg":"as the worker writes it"}\\n');
  `;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 30_000 });
  const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as { msg: string });
  assert.deepEqual(lines.map((line) => line.msg), ['from the main logger', 'as the worker writes it']);
});

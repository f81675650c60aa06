// The node flags production runs with live in one place, the systemd unit's
// NODE_OPTIONS (contrib/relayguard.service); `npm start` and the bench
// (bench/lib/relay-child.ts) use the same. Node refuses a flag it does not
// allow in NODE_OPTIONS (exit 9) or does not know: the unit would not start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname ?? '.', '..', '..');
const unit = readFileSync(path.join(root, 'contrib', 'relayguard.service'), 'utf8');
const nodeOptions = /^Environment=NODE_OPTIONS=(.*)$/m.exec(unit)?.[1]?.trim() ?? '';

test('the unit\'s NODE_OPTIONS are the flags npm start passes, and node accepts them there', () => {
  assert.match(nodeOptions, /--max-semi-space-size=\d+/);
  const { scripts } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.ok(scripts.start?.startsWith(`node ${nodeOptions} bin/relayguard.js serve`), scripts.start);
  const run = spawnSync(process.execPath, ['-e', 'process.exit(0)'], { env: { ...process.env, NODE_OPTIONS: nodeOptions }, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commandHelp } from '../../src/cli/help.ts';
import { restartOnlyKeys } from '../../src/config/reload-keys.ts';

test('check --help names every key a reload cannot apply, and no key it applies', () => {
  const help = commandHelp('check');
  const words = new Set(help.split(/\s+/));
  for (const key of restartOnlyKeys()) assert.ok(words.has(key), `${key} in check --help`);
  assert.ok(!words.has('log_level'));
  assert.ok(!words.has('smtp.bare_line_endings'));
  assert.match(help, /listeners\[0\]\.address changed: needs a restart/);
});

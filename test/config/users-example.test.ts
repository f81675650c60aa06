// policies/users.toml ships with one commented-out example user. It must parse
// as it is (no users), and once uncommented it must work with the password the
// comment names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseUsersFile } from '../../src/config/users-file.ts';
import { verifyPassword } from '../../src/auth/password-hash.ts';
import { checkSender } from '../../src/policy/sender-rule.ts';
import { formatProblem } from '../../src/config/errors.ts';

const FILE = fileURLToPath(new URL('../../policies/users.toml', import.meta.url));

test('the shipped users.toml is valid and has no active user', async () => {
  const parsed = parseUsersFile(FILE, await readFile(FILE, 'utf8'));
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.problems.map(formatProblem).join('\n'));
  assert.equal(parsed.value.size, 0);
});

test('the commented example, uncommented, logs in with the documented password', async () => {
  const text = await readFile(FILE, 'utf8');
  const password = /Its password is "([^"]+)"/.exec(text)?.[1];
  assert.ok(password, 'the comment names the example password');
  const start = text.indexOf('# [[users]]');
  assert.ok(start > 0);
  const example = text.slice(start).replace(/^# ?/gm, '');
  const parsed = parseUsersFile(FILE, example);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.problems.map(formatProblem).join('\n'));
  const alice = parsed.value.get('alice@example.com');
  assert.ok(alice);
  assert.equal(await verifyPassword(password, alice.hash), true);
  assert.equal(await verifyPassword('wrong', alice.hash), false);
  assert.deepEqual(alice.quota, { messagesPerHour: 200, recipientsPerDay: 2000 });
  assert.equal(checkSender(alice, 'bob@sales.example.com').verdict, 'dunno');
  assert.equal(checkSender(alice, 'bob@example.com').verdict, 'reject');
});

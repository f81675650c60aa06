import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatProblem } from '../../src/config/errors.ts';
import { hashPassword } from '../../src/auth/password-hash.ts';
import { parseUsersFile } from '../../src/config/users-file.ts';
import { FAST_PARAMS } from '../helpers/auth-fixtures.ts';

const HASH = await hashPassword('pw', FAST_PARAMS);
const H = JSON.stringify(HASH);

test('a valid file: users, senders, quota, case-insensitive names', () => {
  const text = `# two users
[[users]]
name = "alice@example.com"
hash = ${H}
senders = ["alice@example.com", "*@example.org"]
quota = { messages_per_hour = 100, recipients_per_day = 2000 }

[[users]]
name = "scanner"
hash = ${H}
senders = ["scanner@office.example.com"]
`;
  const parsed = parseUsersFile('users.toml', text);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.problems.map(formatProblem).join('\n'));
  const users = parsed.value;
  assert.equal(users.size, 2);
  const alice = users.get('Alice@Example.COM');
  assert.equal(alice?.name, 'alice@example.com');
  assert.equal(alice?.line, 2);
  assert.deepEqual(alice?.senders, ['alice@example.com', '*@example.org']);
  assert.deepEqual(alice?.quota, { messagesPerHour: 100, recipientsPerDay: 2000 });
  assert.equal(alice?.senderMatcher.matches('bob@example.org'), true);
  assert.equal(users.get('scanner')?.quota, undefined);
  assert.equal(users.get('scanner')?.line, 8);
  assert.equal(users.get('nobody'), undefined);
  assert.deepEqual(users.typicalParams, FAST_PARAMS);
  assert.deepEqual(users.list().map((u) => u.name), ['alice@example.com', 'scanner']);
});

test('an empty or comment-only file has no users', () => {
  for (const text of ['', '# nobody yet\n']) {
    const parsed = parseUsersFile('users.toml', text);
    assert.ok(parsed.ok);
    assert.equal(parsed.value.size, 0);
    assert.deepEqual(parsed.value.typicalParams, { ln: 15, r: 8, p: 1 });
  }
});

test('problems are reported as file:line', () => {
  const user = (body: string): string => `# comment\n[[users]]\n${body}`;
  const rows: Array<{ name: string; text: string; expect: Array<[number, RegExp]> }> = [
    {
      name: 'bad hash format',
      text: user(`name = "a"\nhash = "$scrypt$ln=15$abc"\nsenders = ["a@example.com"]\n`),
      expect: [[4, /user "a": hash must look like/]],
    },
    {
      name: 'plaintext password in hash',
      text: user(`name = "a"\nsenders = ["a@example.com"]\nhash = "hunter2"\n`),
      expect: [[5, /must look like/]],
    },
    {
      name: 'hash cost out of range',
      text: user(`name = "a"\nhash = ${JSON.stringify(HASH.replace('ln=10', 'ln=30'))}\nsenders = ["a@example.com"]\n`),
      expect: [[4, /ln must be 10\.\.22/]],
    },
    {
      name: 'bad sender pattern',
      text: user(`name = "a"\nhash = ${H}\nsenders = ["a@example.com", "a*@example.com"]\n`),
      expect: [[5, /"\*" may only stand for/]],
    },
    {
      name: 'sender without domain',
      text: user(`name = "a"\nhash = ${H}\nsenders = ["postmaster"]\n`),
      expect: [[5, /must be an address/]],
    },
    {
      name: 'duplicate user, differing only in case',
      text: user(`name = "alice"\nhash = ${H}\nsenders = ["a@example.com"]\n\n[[users]]\nname = "Alice"\nhash = ${H}\nsenders = ["a@example.com"]\n`),
      expect: [[8, /user "Alice" is already defined at line 2/]],
    },
    {
      name: 'no senders',
      text: user(`name = "a"\nhash = ${H}\nsenders = []\n`),
      expect: [[5, /senders: list at least one/]],
    },
    {
      name: 'missing hash',
      text: user(`name = "a"\nsenders = ["a@example.com"]\n`),
      expect: [[2, /hash/]],
    },
    {
      name: 'name with a space',
      text: user(`name = "a b"\nhash = ${H}\nsenders = ["a@example.com"]\n`),
      expect: [[3, /name: name must not contain spaces/]],
    },
    {
      name: 'unknown key (typo)',
      text: user(`name = "a"\nhash = ${H}\nsender = ["a@example.com"]\n`),
      expect: [[2, /senders/], [2, /sender/]],
    },
    {
      name: 'bad quota value',
      text: user(`name = "a"\nhash = ${H}\nsenders = ["a@example.com"]\nquota = { messages_per_hour = -1 }\n`),
      expect: [[6, /quota\.messages_per_hour/]],
    },
    {
      name: '[users] written as a single table',
      text: `[users]\nname = "a"\n`,
      expect: [[1, /users/]],
    },
    {
      name: 'TOML syntax error',
      text: user(`name = "a\nhash = ${H}\n`),
      expect: [[3, /TOML syntax/]],
    },
  ];
  for (const row of rows) {
    const parsed = parseUsersFile('policies/users.toml', row.text);
    assert.equal(parsed.ok, false, row.name);
    if (parsed.ok) continue;
    assert.equal(parsed.problems.length, row.expect.length, `${row.name}: ${parsed.problems.map(formatProblem).join(' | ')}`);
    row.expect.forEach(([line, message], i) => {
      const problem = parsed.problems[i];
      assert.equal(problem?.file, 'policies/users.toml', row.name);
      assert.equal(problem?.line, line, `${row.name}: ${formatProblem(problem!)}`);
      assert.match(problem?.message ?? '', message, row.name);
    });
  }
});

test('every problem in a file is reported, not just the first', () => {
  const text = `[[users]]\nname = "a"\nhash = "nope"\nsenders = ["x"]\n\n[[users]]\nname = "A"\nhash = ${H}\nsenders = ["a@example.com"]\n`;
  const parsed = parseUsersFile('u.toml', text);
  assert.equal(parsed.ok, false);
  if (!parsed.ok) assert.deepEqual(parsed.problems.map((p) => p.line), [3, 4, 7]);
});

test('error messages never echo the hash', () => {
  const parsed = parseUsersFile('u.toml', `[[users]]\nname = "a"\nhash = "$scrypt$ln=15,r=8,p=1$c2VjcmV0c2VjcmV0$!!"\nsenders = ["a@example.com"]\n`);
  assert.equal(parsed.ok, false);
  if (!parsed.ok) for (const problem of parsed.problems) assert.doesNotMatch(problem.message, /c2VjcmV0/);
});

test('"<>" in senders grants the null sender only; "*" grants it too; without either it is not granted', () => {
  const text = `[[users]]
name = "carol"
hash = ${H}
senders = ["carol@example.com", "<>"]

[[users]]
name = "dave"
hash = ${H}
senders = ["dave@example.com"]
`;
  const parsed = parseUsersFile('users.toml', text);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.problems.map(formatProblem).join('\n'));
  assert.equal(parsed.value.get('carol')?.senderMatcher.matches(''), true);
  assert.equal(parsed.value.get('carol')?.senderMatcher.matches('other@example.com'), false);
  assert.equal(parsed.value.get('dave')?.senderMatcher.matches(''), false);
});

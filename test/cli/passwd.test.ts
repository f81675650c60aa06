import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { CliIo } from '../../src/cli/io.ts';
import { runPasswd } from '../../src/cli/passwd.ts';
import { parseHashString, verifyPassword } from '../../src/auth/password-hash.ts';
import { parseUsersFile } from '../../src/config/users-file.ts';
import { checkSender } from '../../src/policy/sender-rule.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  rawModes: boolean[];
}

/** Runs passwd with `input` on stdin; `tty` makes stdin look like a terminal. */
async function run(argv: string[], input: string[], tty = false): Promise<Run> {
  const stdin = new PassThrough() as PassThrough & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  const rawModes: boolean[] = [];
  if (tty) {
    stdin.isTTY = true;
    stdin.setRawMode = (mode: boolean) => rawModes.push(mode);
  }
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const io: CliIo = { stdin, stdout, stderr, env: {} };
  const done = runPasswd(argv, io);
  // Typed in pieces, as keystrokes arrive.
  for (const piece of input) {
    await new Promise((resolve) => setImmediate(resolve));
    stdin.write(piece);
  }
  if (!tty) stdin.end();
  const code = await done;
  return { code, stdout: out, stderr: err, rawModes };
}

test('from stdin: a users.toml block that parses and verifies, senders defaulting to the user', async () => {
  const result = await run(['alice@example.com', '--params', 'ln=10,r=8,p=1'], ['pass word with spaces \n', 'ignored second line\n']);
  assert.equal(result.code, 0, result.stderr);
  const parsed = parseUsersFile('users.toml', result.stdout);
  assert.ok(parsed.ok, parsed.ok ? '' : JSON.stringify(parsed.problems));
  const alice = parsed.value.get('alice@example.com');
  assert.ok(alice);
  assert.deepEqual(alice.parsedHash.params, { ln: 10, r: 8, p: 1 });
  assert.equal(await verifyPassword('pass word with spaces ', alice.hash), true);
  assert.equal(await verifyPassword('pass word with spaces', alice.hash), false);
  assert.equal(checkSender(alice, 'alice@example.com').verdict, 'dunno');
  assert.equal(checkSender(alice, 'bob@example.com').verdict, 'reject');
  assert.doesNotMatch(result.stdout + result.stderr, /pass word/);
});

test('without USER: just the hash line, default cost, CRLF input', async () => {
  // --min-length 1: these tests are about input handling; the minimum has tests of its own.
  const result = await run(['--min-length', '1'], ['s3cret\r\n']);
  assert.equal(result.code, 0, result.stderr);
  const match = /^hash = "(.*)"\n$/.exec(result.stdout);
  assert.ok(match, result.stdout);
  const hash = parseHashString(match[1] as string);
  assert.ok(hash.ok);
  assert.deepEqual(hash.hash.params, { ln: 15, r: 8, p: 1 });
  assert.equal(await verifyPassword('s3cret', match[1] as string), true);
});

test('a last line without newline is still the password', async () => {
  const result = await run(['--params', 'ln=10,r=8,p=1', '--min-length', '1'], ['no-newline']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(await verifyPassword('no-newline', /"(.*)"/.exec(result.stdout)?.[1] ?? ''), true);
});

test('--sender patterns, and a user name that is not an address', async () => {
  const result = await run(['scanner', '--sender', 'scanner@office.example', '--sender', '*@printers.example', '--params', 'ln=10,r=8,p=1', '--min-length', '1'], ['pw\n']);
  assert.equal(result.code, 0, result.stderr);
  const parsed = parseUsersFile('users.toml', result.stdout);
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.value.get('scanner')?.senders, ['scanner@office.example', '*@printers.example']);
  const bare = await run(['scanner', '--params', 'ln=10,r=8,p=1', '--min-length', '1'], ['pw\n']);
  assert.equal(bare.code, 0);
  assert.match(bare.stdout, /senders = \[\]/);
  assert.match(bare.stderr, /fill in senders/);
});

test('on a terminal: raw mode, asked twice, backspace edits, mode restored', async () => {
  const result = await run(['bob@example.com', '--params', 'ln=10,r=8,p=1', '--min-length', '1'], ['hunter', '3\u007f2\r', 'hun', 'ter2\r'], true);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.rawModes, [true, false]);
  assert.match(result.stderr, /Password: \nRetype password: \n/);
  assert.doesNotMatch(result.stderr, /hunter/);
  const hash = /hash = "(.*)"/.exec(result.stdout)?.[1] ?? '';
  assert.equal(await verifyPassword('hunter2', hash), true);
});

test('errors: mismatch, abort, empty, bad arguments', async () => {
  const rows: Array<{ name: string; argv: string[]; input: string[]; tty: boolean; code: number; stderr: RegExp }> = [
    { name: 'typed passwords differ', argv: ['--min-length', '1'], input: ['one\r', 'two\r'], tty: true, code: 1, stderr: /do not match/ },
    { name: 'Ctrl-C', argv: [], input: ['abc\u0003'], tty: true, code: 1, stderr: /aborted/ },
    { name: 'empty on terminal', argv: [], input: ['\r'], tty: true, code: 1, stderr: /empty password/ },
    { name: 'empty stdin', argv: [], input: [], tty: false, code: 1, stderr: /no password/ },
    { name: 'empty first line', argv: [], input: ['\nsecond\n'], tty: false, code: 1, stderr: /no password/ },
    { name: 'two users', argv: ['a', 'b'], input: [], tty: false, code: 2, stderr: /only one USER/ },
    { name: 'unknown option', argv: ['--cost', '5'], input: [], tty: false, code: 2, stderr: /unknown option --cost/ },
    { name: 'bad params', argv: ['--params', 'ln=99,r=8,p=1'], input: [], tty: false, code: 2, stderr: /ln must be/ },
    { name: 'bad sender', argv: ['a', '--sender', 'a*@x.example'], input: [], tty: false, code: 1, stderr: /may only stand for/ },
    { name: 'user with space', argv: ['a b'], input: [], tty: false, code: 1, stderr: /spaces/ },
  ];
  for (const row of rows) {
    const result = await run(row.argv, row.input, row.tty);
    assert.equal(result.code, row.code, `${row.name}: ${result.stderr}`);
    assert.match(result.stderr, row.stderr, row.name);
    assert.equal(result.stdout, '', row.name);
    if (row.tty) assert.deepEqual(result.rawModes, [true, false], `${row.name}: raw mode restored`);
  }
});

test('--help prints usage and exits 0', async () => {
  const result = await run(['--help'], []);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /usage: relayguard passwd/);
});

test('a password shorter than the minimum (12 by default, --min-length N) is refused, saying why', async () => {
  const short = await run(['--params', 'ln=10,r=8,p=1'], ['eleven char\n']);
  assert.equal(short.code, 1);
  assert.equal(short.stdout, '');
  assert.match(short.stderr, /password too short: 11 characters, at least 12 needed/);
  assert.doesNotMatch(short.stderr, /eleven/);
  // Characters, not bytes: twelve accented letters are twelve.
  const twelve = await run(['--params', 'ln=10,r=8,p=1'], [`${'é'.repeat(12)}\n`]);
  assert.equal(twelve.code, 0, twelve.stderr);
  assert.equal(await verifyPassword('é'.repeat(12), /"(.*)"/.exec(twelve.stdout)?.[1] ?? ''), true);
  const raised = await run(['--params', 'ln=10,r=8,p=1', '--min-length', '20'], ['nineteen characters\n']);
  assert.equal(raised.code, 1);
  assert.match(raised.stderr, /19 characters, at least 20 needed/);
  // On a terminal it is said after the first entry, before asking to retype.
  const typed = await run(['--params', 'ln=10,r=8,p=1'], ['short\r'], true);
  assert.equal(typed.code, 1);
  assert.match(typed.stderr, /^Password: \nrelayguard passwd: password too short: 5 characters/);
  assert.doesNotMatch(typed.stderr, /Retype/);
  assert.deepEqual(typed.rawModes, [true, false]);
  for (const bad of ['0', 'x', '-3', '1.5', '5000']) {
    const result = await run(['--min-length', bad], []);
    assert.equal(result.code, 2, bad);
    assert.match(result.stderr, /--min-length must be a whole number from 1 to 1024/, bad);
  }
});

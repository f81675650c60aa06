import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scryptSync } from 'node:crypto';
import {
  DEFAULT_SCRYPT_PARAMS,
  formatHashString,
  hashPassword,
  parseHashString,
  verifyPassword,
} from '../../src/auth/password-hash.ts';
import { FAST_PARAMS } from '../helpers/auth-fixtures.ts';

test('hash round trip with the default parameters, written into the string', async () => {
  const hash = await hashPassword('correct horse battery staple');
  assert.match(hash, /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.deepEqual(DEFAULT_SCRYPT_PARAMS, { ln: 15, r: 8, p: 1 });
  assert.equal(await verifyPassword('correct horse battery staple', hash), true);
  assert.equal(await verifyPassword('correct horse battery stapl', hash), false);
});

test('two hashes of one password differ (random salt) and both verify', async () => {
  const a = await hashPassword('secret', FAST_PARAMS);
  const b = await hashPassword('secret', FAST_PARAMS);
  assert.notEqual(a, b);
  assert.equal(await verifyPassword('secret', a), true);
  assert.equal(await verifyPassword('secret', b), true);
});

test('wrong password, empty password and other cases fail', async () => {
  const hash = await hashPassword('Secret', FAST_PARAMS);
  for (const wrong of ['secret', 'SECRET', 'Secret ', '', 'Secret\n']) {
    assert.equal(await verifyPassword(wrong, hash), false, JSON.stringify(wrong));
  }
});

test('verification uses the cost written in the string, not the default', async () => {
  // Built by hand with the synchronous reference implementation at ln=11, r=4, p=2.
  const salt = Buffer.from('0123456789abcdef');
  const key = scryptSync(Buffer.from('pw'), salt, 32, { N: 2 ** 11, r: 4, p: 2 });
  const hash = formatHashString({ params: { ln: 11, r: 4, p: 2 }, salt, key });
  assert.equal(await verifyPassword('pw', hash), true);
  // Same salt and key with any other parameter: the derived key no longer matches.
  for (const other of ['ln=12,r=4,p=2', 'ln=11,r=8,p=2', 'ln=11,r=4,p=1']) {
    assert.equal(await verifyPassword('pw', hash.replace('ln=11,r=4,p=2', other)), false, other);
  }
  // Key length is taken from the string too (a 64-byte key).
  const long = scryptSync(Buffer.from('pw'), salt, 64, { N: 2 ** 10, r: 8, p: 1 });
  assert.equal(await verifyPassword('pw', formatHashString({ params: FAST_PARAMS, salt, key: long })), true);
});

test('a password in composed or decomposed Unicode is the same password', async () => {
  const hash = await hashPassword('caf\u00e9', FAST_PARAMS);
  assert.equal(await verifyPassword('cafe\u0301', hash), true);
});

test('malformed hash strings are refused with a reason, and never verify', async () => {
  const good = await hashPassword('x', FAST_PARAMS);
  const [, , , salt, key] = good.split('$');
  const rows: Array<[string, RegExp]> = [
    ['', /must look like/],
    ['plaintext', /must look like/],
    [`$argon2id$v=19$m=1,t=1,p=1$${salt}$${key}`, /unsupported hash scheme "argon2id"/],
    [`$scrypt$ln=15,r=8$${salt}$${key}`, /ln=N,r=N,p=N/],
    [`$scrypt$ln=15,r=8,p=1,p=1$${salt}$${key}`, /ln=N,r=N,p=N/],
    [`$scrypt$ln=9,r=8,p=1$${salt}$${key}`, /ln must be 10\.\.22/],
    [`$scrypt$ln=23,r=8,p=1$${salt}$${key}`, /ln must be 10\.\.22/],
    [`$scrypt$ln=15,r=0,p=1$${salt}$${key}`, /r in 1\.\.32/],
    [`$scrypt$ln=22,r=8,p=1$${salt}$${key}`, /256 MiB/],
    [`$scrypt$ln=15,r=8,p=1$not base64!$${key}`, /base64/],
    [`$scrypt$ln=15,r=8,p=1$YWJj$${key}`, /salt is shorter/],
    [`$scrypt$ln=15,r=8,p=1$${salt}$YWJj`, /key must be 16 to 64 bytes/],
  ];
  for (const [text, message] of rows) {
    const parsed = parseHashString(text);
    assert.equal(parsed.ok, false, text);
    if (!parsed.ok) assert.match(parsed.message, message, text);
    assert.equal(await verifyPassword('x', text), false, text);
  }
  assert.equal(parseHashString(good).ok, true);
});

test('hashing runs off the event loop: other callbacks run while a hash is computed', async () => {
  let turns = 0;
  let running = true;
  const spin = (): void => {
    turns++;
    if (running) setImmediate(spin);
  };
  setImmediate(spin);
  // The default cost takes tens of milliseconds; a synchronous scrypt would
  // hold the loop for all of it and the spinner could not turn in between.
  const hash = await hashPassword('pw');
  const before = turns;
  await verifyPassword('pw', hash);
  running = false;
  assert.ok(before > 1, `event loop turns during hashPassword: ${before}`);
  assert.ok(turns > before + 1, `event loop turns during verifyPassword: ${turns - before}`);
});

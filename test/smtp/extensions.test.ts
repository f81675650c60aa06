// The extension table (src/smtp/extensions.ts) as pure logic: what each
// session state is offered, the smtp-server options derived from it, and the
// MAIL/RCPT parameter parser (accepted values as stored, 555 vs 501 problems).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EXTENSIONS,
  decodeXtext,
  ehloLineOffered,
  offeredExtensions,
  parseMailParams,
  parseRcptParams,
  smtpServerHideOptions,
  type ExtensionKeyword,
} from '../../src/smtp/extensions.ts';

const sorted = (set: ReadonlySet<string>): string[] => [...set].sort();
const BASE = ['8BITMIME', 'DSN', 'ENHANCEDSTATUSCODES', 'PIPELINING', 'SIZE', 'SMTPUTF8'];

test('offered per listener and TLS state: STARTTLS only before TLS, AUTH only over TLS where offered, REQUIRETLS only over TLS, never CHUNKING/BINARYMIME', () => {
  const cases: Array<[{ starttlsListener: boolean; tls: boolean; authOffered: boolean }, string[]]> = [
    [{ starttlsListener: true, tls: false, authOffered: false }, [...BASE, 'STARTTLS']],
    [{ starttlsListener: true, tls: true, authOffered: false }, [...BASE, 'REQUIRETLS']],
    [{ starttlsListener: true, tls: false, authOffered: true }, [...BASE, 'STARTTLS']],
    [{ starttlsListener: true, tls: true, authOffered: true }, [...BASE, 'AUTH', 'REQUIRETLS']],
    [{ starttlsListener: false, tls: true, authOffered: true }, [...BASE, 'AUTH', 'REQUIRETLS']],
    [{ starttlsListener: false, tls: false, authOffered: false }, BASE],
  ];
  for (const [ctx, expected] of cases) assert.deepEqual(sorted(offeredExtensions(ctx)), [...expected].sort(), JSON.stringify(ctx));
});

test('smtp-server is told to hide exactly what the table never offers', () => {
  assert.deepEqual(smtpServerHideOptions(), {
    hidePIPELINING: false,
    hide8BITMIME: false,
    hideSMTPUTF8: false,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: false,
    hideREQUIRETLS: false,
  });
  const offered = offeredExtensions({ starttlsListener: true, tls: false, authOffered: true });
  assert.equal(ehloLineOffered('SIZE 1000', offered), true);
  assert.equal(ehloLineOffered('AUTH PLAIN LOGIN', offered), false);
  assert.equal(ehloLineOffered('XCLIENT NAME ADDR', offered), false);
  assert.equal(ehloLineOffered('REQUIRETLS', offered), false);
});

test('every parameter belongs to exactly one extension', () => {
  const seen = new Map<string, string>();
  for (const row of EXTENSIONS) {
    for (const param of [...row.mailParams.map((p) => `MAIL ${p}`), ...row.rcptParams.map((p) => `RCPT ${p}`)]) {
      assert.equal(seen.has(param), false, `${param} in ${row.keyword} and ${seen.get(param)}`);
      seen.set(param, row.keyword);
    }
  }
});

const ALL: ReadonlySet<ExtensionKeyword> = offeredExtensions({ starttlsListener: true, tls: true, authOffered: true });
const PLAIN: ReadonlySet<ExtensionKeyword> = offeredExtensions({ starttlsListener: true, tls: false, authOffered: true });

test('MAIL parameters: accepted values as they are stored', () => {
  assert.deepEqual(parseMailParams('', ALL), { ok: true, esmtp: {} });
  assert.deepEqual(parseMailParams(' SIZE=1000 BODY=8bitmime SMTPUTF8 RET=hdrs ENVID=QQ+2B1+3Dx', ALL), {
    ok: true,
    esmtp: { body: '8BITMIME', smtputf8: true, ret: 'HDRS', envid: 'QQ+1=x' },
    size: 1000,
  });
  assert.deepEqual(parseMailParams(' body=7BIT', ALL), { ok: true, esmtp: { body: '7BIT' } });
  assert.deepEqual(parseMailParams(' REQUIRETLS', ALL), { ok: true, esmtp: { requiretls: true } });
  assert.deepEqual(parseMailParams(' requiretls BODY=8BITMIME', ALL), { ok: true, esmtp: { requiretls: true, body: '8BITMIME' } });
  assert.deepEqual(parseMailParams(' AUTH=<>', ALL), { ok: true, esmtp: {} });
  assert.deepEqual(parseMailParams(' AUTH=user+40example.test', ALL), { ok: true, esmtp: {} });
  assert.deepEqual(parseMailParams(` ENVID=${'x'.repeat(100)}`, ALL), { ok: true, esmtp: { envid: 'x'.repeat(100) } });
});

test('MAIL parameters: unknown or not offered -> not_offered (555), bad values or repeats -> malformed (501)', () => {
  const cases: Array<[string, ReadonlySet<ExtensionKeyword>, 'not_offered' | 'malformed', string]> = [
    [' FOO=bar', ALL, 'not_offered', 'FOO'],
    [' FOO', ALL, 'not_offered', 'FOO'],
    [' REQUIRETLS', PLAIN, 'not_offered', 'REQUIRETLS'],
    [' REQUIRETLS=yes', ALL, 'malformed', 'REQUIRETLS'],
    [' BODY=BINARYMIME', ALL, 'not_offered', 'BODY'],
    [' AUTH=<>', PLAIN, 'not_offered', 'AUTH'],
    [' NOTIFY=NEVER', ALL, 'not_offered', 'NOTIFY'],
    [' SIZE=abc', ALL, 'malformed', 'SIZE'],
    [' SIZE', ALL, 'malformed', 'SIZE'],
    [' SIZE=123456789012345678901', ALL, 'malformed', 'SIZE'],
    [' BODY=9BIT', ALL, 'malformed', 'BODY'],
    [' BODY=', ALL, 'malformed', 'BODY'],
    [' SMTPUTF8=yes', ALL, 'malformed', 'SMTPUTF8'],
    [' RET=NONE', ALL, 'malformed', 'RET'],
    [' RET=FULL RET=HDRS', ALL, 'malformed', 'RET'],
    [' RET=FULL ret=FULL', ALL, 'malformed', 'RET'],
    [' ENVID=', ALL, 'malformed', 'ENVID'],
    [' ENVID=a+ZZ', ALL, 'malformed', 'ENVID'],
    [' ENVID=a+2b', ALL, 'malformed', 'ENVID'],
    [' ENVID=a+', ALL, 'malformed', 'ENVID'],
    [' ENVID=a=b', ALL, 'malformed', 'ENVID'],
    [' ENVID=a+0D+0Ab', ALL, 'malformed', 'ENVID'],
    [' ENVID=\u00fc', ALL, 'malformed', 'ENVID'],
    [` ENVID=${'x'.repeat(101)}`, ALL, 'malformed', 'ENVID'],
    [' AUTH=', ALL, 'malformed', 'AUTH'],
  ];
  for (const [text, offered, problem, keyword] of cases) {
    const parsed = parseMailParams(text, offered);
    assert.equal(parsed.ok, false, text);
    if (!parsed.ok) assert.deepEqual([parsed.problem, parsed.keyword], [problem, keyword], text);
  }
});

test('RCPT parameters: NOTIFY and ORCPT as stored, null when none', () => {
  assert.deepEqual(parseRcptParams('', ALL, false), { ok: true, dsn: null });
  assert.deepEqual(parseRcptParams(' NOTIFY=never', ALL, false), { ok: true, dsn: { notify: ['NEVER'] } });
  assert.deepEqual(parseRcptParams(' NOTIFY=SUCCESS,failure,DELAY ORCPT=rfc822;a+2Bb@example.test', ALL, false), {
    ok: true,
    dsn: { notify: ['SUCCESS', 'FAILURE', 'DELAY'], orcpt: { type: 'rfc822', address: 'a+b@example.test' } },
  });
  assert.deepEqual(parseRcptParams(' ORCPT=RFC822;x@y', ALL, false), { ok: true, dsn: { orcpt: { type: 'rfc822', address: 'x@y' } } });
  // RFC 6533: utf-8 addresses, \x{HEX} escaped, or as UTF-8 in an SMTPUTF8 transaction.
  assert.deepEqual(parseRcptParams(' ORCPT=utf-8;j\\x{FC}rgen@b\\x{FC}cher.example', ALL, false), {
    ok: true,
    dsn: { orcpt: { type: 'utf-8', address: 'jürgen@bücher.example' } },
  });
  assert.deepEqual(parseRcptParams(' ORCPT=utf-8;jürgen@bücher.example', ALL, true), { ok: true, dsn: { orcpt: { type: 'utf-8', address: 'jürgen@bücher.example' } } });
  // As Postfix sends a UTF-8 recipient's ORCPT: rfc822 with the UTF-8 bytes in xtext; only in an SMTPUTF8 transaction, only valid UTF-8.
  assert.deepEqual(parseRcptParams(' ORCPT=rfc822;zo+C3+AB@example.test', ALL, true), { ok: true, dsn: { orcpt: { type: 'rfc822', address: 'zoë@example.test' } } });
  assert.equal(parseRcptParams(' ORCPT=rfc822;zo+C3+AB@example.test', ALL, false).ok, false, 'not without SMTPUTF8');
  assert.equal(parseRcptParams(' ORCPT=rfc822;zo+FF@example.test', ALL, true).ok, false, 'not UTF-8');
  assert.equal(parseRcptParams(' ORCPT=rfc822;zo+C3+AB+0A@example.test', ALL, true).ok, false, 'a control character');
  assert.equal(parseRcptParams(' ORCPT=rfc822;zoe+CC+88@example.test', ALL, true).ok, false, 'not NFC');
  assert.deepEqual(parseRcptParams(' ORCPT=x400;+2FC=US', ALL, false).ok, false, '"=" is not xtext');
  assert.deepEqual(parseRcptParams(' ORCPT=x400;+2FC+3DUS', ALL, false), { ok: true, dsn: { orcpt: { type: 'x400', address: '/C=US' } } });
});

test('RCPT parameters: refusals', () => {
  const cases: Array<[string, boolean, 'not_offered' | 'malformed', string]> = [
    [' FOO=bar', true, 'not_offered', 'FOO'],
    [' SIZE=10', true, 'not_offered', 'SIZE'],
    [' RET=FULL', true, 'not_offered', 'RET'],
    [' NOTIFY=', false, 'malformed', 'NOTIFY'],
    [' NOTIFY', false, 'malformed', 'NOTIFY'],
    [' NOTIFY=NEVER,SUCCESS', false, 'malformed', 'NOTIFY'],
    [' NOTIFY=SUCCESS,SUCCESS', false, 'malformed', 'NOTIFY'],
    [' NOTIFY=SUCCESS,', false, 'malformed', 'NOTIFY'],
    [' NOTIFY=ALWAYS', false, 'malformed', 'NOTIFY'],
    [' NOTIFY=NEVER NOTIFY=NEVER', false, 'malformed', 'NOTIFY'],
    [' ORCPT=', false, 'malformed', 'ORCPT'],
    [' ORCPT=a@b', false, 'malformed', 'ORCPT'],
    [' ORCPT=rfc822;', false, 'malformed', 'ORCPT'],
    [' ORCPT=;a@b', false, 'malformed', 'ORCPT'],
    [' ORCPT=rfc822;a+ZZ', false, 'malformed', 'ORCPT'],
    [' ORCPT=rfc822;a+0D+0A@b', false, 'malformed', 'ORCPT'],
    [' ORCPT=rfc822;jürgen@b', true, 'malformed', 'ORCPT'],
    [' ORCPT=utf-8;jürgen@b', false, 'malformed', 'ORCPT'],
    [' ORCPT=utf-8;a\\x{41}@b', false, 'malformed', 'ORCPT'],
    [' ORCPT=utf-8;a\\x{fc}@b', false, 'malformed', 'ORCPT'],
    [' ORCPT=utf-8;u\u0308@b', true, 'malformed', 'ORCPT'],
    [` ORCPT=rfc822;${'a'.repeat(500)}@b`, false, 'malformed', 'ORCPT'],
  ];
  for (const [text, smtputf8, problem, keyword] of cases) {
    const parsed = parseRcptParams(text, ALL, smtputf8);
    assert.equal(parsed.ok, false, text);
    if (!parsed.ok) assert.deepEqual([parsed.problem, parsed.keyword], [problem, keyword], text);
  }
});

test('xtext decoding is strict (RFC 3461 4: upper-case hex, no bare "+" or "=")', () => {
  assert.equal(decodeXtext('a+2Bb'), 'a+b');
  assert.equal(decodeXtext('a+2bb'), undefined);
  assert.equal(decodeXtext('a+b'), undefined);
  assert.equal(decodeXtext('a=b'), undefined);
  assert.equal(decodeXtext('a b'), undefined);
  assert.equal(decodeXtext(''), '');
});

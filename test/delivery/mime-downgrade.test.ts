// Table tests of the pure 8-bit to 7-bit conversion (RFC 6152 section 3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode } from 'libqp';
import { downgradeToSevenBit, hasEightBit } from '../../src/delivery/mime-downgrade.ts';

const crlf = (lines: string[]) => Buffer.from(lines.join('\r\n'), 'utf8');

function converted(message: Buffer): { text: string; parts: number; eightBitHeaders: boolean } {
  const result = downgradeToSevenBit(message);
  assert.equal(result.kind, 'converted', JSON.stringify(result));
  if (result.kind !== 'converted') throw new Error('unreachable');
  return { text: result.message.toString('latin1'), parts: result.parts, eightBitHeaders: result.eightBitHeaders };
}

test('a 7-bit message is left alone', () => {
  const message = crlf(['Subject: plain', '', 'just ascii', '']);
  assert.equal(hasEightBit(message), false);
  assert.deepEqual(downgradeToSevenBit(message), { kind: 'unchanged' });
});

test('a single-part 8-bit text body becomes quoted-printable and decodes back to the same bytes', () => {
  const body = 'Grüße aus Köln, = und ein sehr langer Satz '.repeat(4) + '\r\nzweite Zeile\r\n';
  const message = Buffer.concat([crlf(['MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', '']), Buffer.from(body, 'utf8')]);
  const out = converted(message);
  assert.equal(out.parts, 1);
  assert.equal(hasEightBit(Buffer.from(out.text, 'latin1')), false);
  assert.match(out.text, /\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n/);
  assert.doesNotMatch(out.text, /8bit/);
  const encodedBody = out.text.slice(out.text.indexOf('\r\n\r\n') + 4);
  for (const line of encodedBody.split('\r\n')) assert.ok(line.length <= 76, `line too long: ${line}`);
  assert.equal(decode(encodedBody).toString('utf8'), body);
});

test('a non-MIME 8-bit message gets MIME-Version and a charset the bytes allow', () => {
  const out = converted(crlf(['Subject: x', '', 'café', '']));
  assert.match(out.text, /MIME-Version: 1\.0\r\n/);
  assert.match(out.text, /Content-Type: text\/plain; charset=utf-8\r\n/);
  const latin1 = converted(Buffer.concat([crlf(['Subject: x', '', '']), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0d, 0x0a])]));
  assert.match(latin1.text, /charset=unknown-8bit/);
});

test('multipart: only the 8-bit leaves are converted, containers relabelled 7bit, 7-bit parts untouched', () => {
  const message = crlf([
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    'Content-Transfer-Encoding: 8bit',
    '',
    'preamble ü',
    '--b1',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'ascii only',
    '--b1',
    'Content-Type: multipart/alternative; boundary=b2',
    '',
    '--b2',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    'naïve',
    '--b2',
    'Content-Type: text/html; charset=utf-8',
    '',
    '<p>naïve</p>',
    '--b2--',
    '--b1',
    'Content-Type: message/rfc822',
    '',
    'Subject: inner',
    '',
    'inner ß',
    '--b1--',
    'epilogue',
    '',
  ]);
  const out = converted(message);
  assert.equal(out.parts, 3);
  assert.equal(hasEightBit(Buffer.from(out.text, 'latin1')), false);
  assert.match(out.text, /Content-Type: multipart\/mixed; boundary="b1"\r\nContent-Transfer-Encoding: 7bit\r\n/);
  assert.match(out.text, /preamble \?\?\r\n/);
  assert.match(out.text, /charset=us-ascii\r\n\r\nascii only\r\n--b1\r\n/);
  assert.match(out.text, /Content-Transfer-Encoding: quoted-printable\r\n\r\nna=C3=AFve\r\n--b2\r\n/);
  assert.match(out.text, /<p>na=C3=AFve<\/p>\r\n--b2--/);
  assert.match(out.text, /Subject: inner\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ninner =C3=9F\r\n--b1--\r\nepilogue\r\n$/);
});

test('top-level 8-bit headers over a 7-bit body: sent as they are, and said so', () => {
  const result = downgradeToSevenBit(crlf(['Subject: Grüße', '', 'ascii body', '']));
  assert.equal(result.kind, 'converted');
  if (result.kind === 'converted') {
    assert.equal(result.parts, 0);
    assert.equal(result.eightBitHeaders, true);
  }
});

test('what cannot be converted is refused, with the reason', () => {
  const table: Array<[string, string[], RegExp]> = [
    ['signed', ['Content-Type: multipart/signed; boundary=s; protocol="application/pgp-signature"', '', '--s', 'Content-Type: text/plain', '', 'signé', '--s--', ''], /multipart\/signed/],
    ['global', ['Content-Type: multipart/mixed; boundary=m', '', '--m', 'Content-Type: message/global', '', 'Subject: ü', '', 'x', '--m--', ''], /message\/global|8-bit header/],
    ['inner headers', ['Content-Type: message/rfc822', '', 'Subject: ü', '', 'body', ''], /8-bit header/],
    ['labelled base64', ['Content-Type: text/plain', 'Content-Transfer-Encoding: base64', '', 'é', ''], /base64/],
    ['no boundary', ['Content-Type: multipart/mixed', '', 'é', ''], /boundary/],
  ];
  for (const [name, lines, reason] of table) {
    const result = downgradeToSevenBit(crlf(lines));
    assert.equal(result.kind, 'impossible', name);
    if (result.kind === 'impossible') assert.match(result.reason, reason, name);
  }
});

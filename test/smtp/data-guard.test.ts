import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { DataGuard, type BareLineEndingMode } from '../../src/smtp/data-guard.ts';

async function run(chunks: Buffer[], mode: BareLineEndingMode = 'reject', maxLineLength = 1000): Promise<{ out?: string; error?: string }> {
  const guard = new DataGuard({ header: 'Received: x\r\n', maxBytes: 10_000, bareLineEndings: mode, maxLineLength });
  Readable.from(chunks).pipe(guard);
  try {
    const parts: Buffer[] = [];
    for await (const part of guard) parts.push(part as Buffer);
    return { out: Buffer.concat(parts).toString('latin1') };
  } catch (error) {
    return { error: (error as { code: string }).code };
  }
}

/** Every way of cutting `text` in two, so chunk boundaries cannot hide anything. */
async function everySplit(text: string, mode: BareLineEndingMode = 'reject', maxLineLength = 1000) {
  const buffer = Buffer.from(text, 'latin1');
  const results = new Set<string>();
  for (let cut = 0; cut <= buffer.length; cut++) {
    const result = await run([buffer.subarray(0, cut), buffer.subarray(cut)].filter((b) => b.length > 0), mode, maxLineLength);
    results.add(result.error ?? `ok:${result.out}`);
  }
  return [...results];
}

test('smuggling payloads are refused however the bytes are chunked', async () => {
  const payloads = [
    'Subject: a\r\n\r\nbody\n.\nMAIL FROM:<x@y>\r\n',
    'Subject: a\r\n\r\nbody\n.\r\nMAIL FROM:<x@y>\r\n',
    'Subject: a\r\n\r\nbody\r.\r\nMAIL FROM:<x@y>\r\n',
    'Subject: a\r\n\r\nbody\r\n.\r\r\n',
    'Subject: a\n\r\n',
    'Subject: a\r\r\n',
  ];
  for (const payload of payloads) {
    assert.deepEqual(await everySplit(payload), ['DATA_BARE_LINE_ENDING'], JSON.stringify(payload));
  }
});

test('clean CRLF messages pass unchanged after the Received header', async () => {
  const text = 'Subject: a\r\n\r\nline\r\n\r\nend\r\n';
  assert.deepEqual(await everySplit(text), [`ok:Received: x\r\n${text}`]);
});

test('normalize mode turns bare LF and bare CR into CRLF', async () => {
  assert.deepEqual(await everySplit('a\nb\rc\r\nd\r\n', 'normalize'), ['ok:Received: x\r\na\r\nb\r\nc\r\nd\r\n']);
});

test('NUL bytes and over-long lines are refused', async () => {
  assert.deepEqual(await everySplit('a\u0000b\r\n'), ['DATA_NUL']);
  const exact = `${'x'.repeat(98)}\r\n`;
  assert.deepEqual(await everySplit(exact, 'reject', 100), [`ok:Received: x\r\n${exact}`]);
  assert.deepEqual(await everySplit(`${'x'.repeat(99)}\r\n`, 'reject', 100), ['DATA_LINE_TOO_LONG']);
});

test('the size limit counts the bytes actually sent', async () => {
  const guard = new DataGuard({ header: '', maxBytes: 10, bareLineEndings: 'reject' });
  Readable.from([Buffer.from('0123456789\r\n')]).pipe(guard);
  await assert.rejects(async () => {
    for await (const _ of guard) void _;
  }, { code: 'DATA_TOO_LARGE' });
});

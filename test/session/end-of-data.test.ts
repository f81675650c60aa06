// The end-of-data stage: the DataGuard measures (size, bare line endings,
// NUL, longest line) and the DATA rule list decides. Table: body in, the
// measured facts and the deciding rule out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import type { DataRefusedError} from '../../src/smtp/data-guard.ts';
import { DataGuard, type BareLineEndingMode } from '../../src/smtp/data-guard.ts';
import { evaluateData } from '../../src/policy/engine.ts';
import type { MessageFacts } from '../../src/policy/facts.ts';
import { testConfig, testSnapshot } from '../helpers/policy-snapshot.ts';
import { MX, testSession } from '../helpers/policy-session.ts';

async function receive(body: string, mode: BareLineEndingMode, maxBytes = 10_000) {
  const snapshot = testSnapshot({ config: testConfig(`[smtp]\nmax_message_size = ${maxBytes}\nmax_line_length = 1000\nbare_line_endings = "${mode}"\n`) });
  const asked: MessageFacts[] = [];
  const guard = new DataGuard({
    header: '',
    maxBytes,
    bareLineEndings: mode,
    maxLineLength: 1000,
    decide: (facts) => (asked.push(facts), evaluateData(testSession({ ip: '192.0.2.200', listener: MX }), snapshot, { message: facts })),
  });
  Readable.from([Buffer.from(body, 'latin1')]).pipe(guard);
  try {
    for await (const _ of guard) void _;
    return { asked, facts: guard.facts, refused: undefined };
  } catch (error) {
    return { asked, facts: guard.facts, refused: error as DataRefusedError };
  }
}

const rows: ReadonlyArray<readonly [string, string, BareLineEndingMode, { rule?: string; reply?: string; code?: string; bare: boolean }]> = [
  ['clean message', 'Subject: a\r\n\r\nbody\r\n', 'reject', { bare: false }],
  ['bare LF, reject', 'Subject: a\r\n\r\nbody\n.\nMAIL FROM:<x@y>\r\n', 'reject', { rule: 'bare-line-endings', reply: '550 5.6.0', code: 'DATA_BARE_LINE_ENDING', bare: true }],
  ['bare LF, normalize: measured, repaired, accepted', 'a\nb\r\n', 'normalize', { bare: true }],
  ['NUL', 'a\u0000b\r\n', 'reject', { rule: 'nul-bytes', reply: '550 5.6.0', code: 'DATA_NUL', bare: false }],
  ['line too long', `${'x'.repeat(999)}\r\n`, 'reject', { rule: 'line-length', reply: '550 5.6.0', code: 'DATA_LINE_TOO_LONG', bare: false }],
];

for (const [name, body, mode, expect] of rows) {
  test(`end of data: ${name}`, async () => {
    const { asked, facts, refused } = await receive(body, mode);
    assert.ok(asked.length >= 1, 'the rules were asked');
    assert.equal(facts.bareLineEnding, expect.bare);
    assert.equal(refused?.decision?.rule, expect.rule);
    assert.equal(refused?.code, expect.code);
    if (expect.reply) assert.match(`${refused?.decision?.reply?.code} ${refused?.decision?.reply?.enhanced}`, new RegExp(`^${expect.reply}$`));
    if (!refused) assert.equal(facts.size, Buffer.byteLength(body, 'latin1'));
  });
}

test('end of data: over the size limit, the data-size rule refuses (552 5.3.4) and reading stops', async () => {
  const { facts, refused } = await receive(`${'x'.repeat(50)}\r\n`.repeat(10), 'reject', 100);
  assert.equal(refused?.decision?.rule, 'data-size');
  assert.equal(refused?.decision?.reason, 'data.size_exceeded');
  assert.deepEqual([refused?.decision?.reply?.code, refused?.decision?.reply?.enhanced], [552, '5.3.4']);
  assert.ok(facts.size > 100);
});

// The command-line reads of the front door (src/smtp/command-line.ts) against the string expressions they
// replaced, on the line's latin1 text: seeded random lines over the bytes that matter (whitespace of every
// kind, DATA in any case, letters, UTF-8 and latin1 bytes) and a fixed table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commandVerb, isDataCommand } from '../../src/smtp/command-line.ts';

function before(command: Buffer): { name: string; hasArgument: boolean; data: boolean } {
  const text = command.toString('latin1');
  const words = text.trim().split(/\s+/);
  return { name: (words[0] ?? '').toUpperCase(), hasArgument: words.length >= 2, data: /^DATA(\s|$)/i.test(text) };
}

const after = (command: Buffer) => ({ ...commandVerb(command), data: isDataCommand(command) });

test('verb, argument and DATA read from the bytes as the old string expressions read them (fixed lines)', () => {
  const lines = ['', ' ', '\t', 'EHLO', 'EHLO ', 'ehlo x', ' EHLO x', 'EHLO\tx', 'EHLO\u00a0x', 'EHLO \u00a0', 'HELO  a  b ', 'DATA', 'data', 'DaTa ', 'DATA\r', 'DATA\u00a0', 'DATAX', 'DAT', ' DATA', 'DATA x', 'D\u00c1TA', 'MAIL FROM:<a@b>', 'ß', 'ÿ x', '\u0085EHLO', 'EHLO\u0085x', 'QUIT', 'VRFY bob', 'EXPN', '\u000b\u000cNOOP\u000d'];
  for (const line of lines) {
    const command = Buffer.from(line, 'latin1');
    assert.deepEqual(after(command), before(command), JSON.stringify(line));
  }
  // UTF-8 lines (what reaches these reads: valid UTF-8 only): "à" ends in 0xA0, which is NBSP in latin1.
  for (const line of ['EHLO à', 'EHLOà x', 'DATAà', 'Dàta', 'HELO résumé.example']) {
    const command = Buffer.from(line, 'utf8');
    assert.deepEqual(after(command), before(command), line);
  }
});

test('verb, argument and DATA read from the bytes as the old string expressions read them (seeded random lines)', () => {
  let seed = 2_026_1206;
  const next = (below: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % below;
  };
  const pieces = [[0x20], [0x09], [0x0a], [0x0b], [0x0c], [0x0d], [0xa0], [0x85], [0x00], [0xc3, 0xa0], [0xdf], [0xff], [0xb5], [0x1c], [0x7f], ...'DATAdataEHLOehloHELOxyzQUITNOOPVRFYEXPN:<>@.-'.split('').map((c) => [c.charCodeAt(0)])];
  const starts = ['DATA', 'data', 'EHLO', 'HELO', 'NOOP', ' ', '', 'DAT', 'Data'];
  for (let i = 0; i < 30_000; i++) {
    const bytes: number[] = [...Buffer.from(starts[next(starts.length)] as string, 'latin1')];
    const length = next(8);
    for (let k = 0; k < length; k++) bytes.push(...(pieces[next(pieces.length)] as number[]));
    const command = Buffer.from(bytes);
    assert.deepEqual(after(command), before(command), command.toString('hex'));
  }
});

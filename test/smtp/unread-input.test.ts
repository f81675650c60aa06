// UnreadInput: the bytes handed to the parser, less the commands and messages
// read, whatever the chunking (the pipelining check rests on it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UnreadInput } from '../../src/smtp/unread-input.ts';

/** Feeds `chunks`, reads `commands` (DATA starts a message), and says what is left. */
function leftAfter(chunks: string[], commands: string[]): { pending: boolean; text: string } {
  const input = new UnreadInput();
  for (const chunk of chunks) input.received(Buffer.from(chunk, 'latin1'));
  for (const command of commands) {
    input.commandRead(Buffer.from(command, 'latin1'));
    if (command === 'DATA') input.messageStarted();
  }
  return { pending: input.pending, text: input.text };
}

test('commands and messages are taken off the input, across any split of the chunks', () => {
  const session = 'EHLO a\r\nMAIL FROM:<x@y>\r\nDATA\r\nSubject: s\r\n\r\n.NOOP\r\nbody\r\n.\r\nQUIT\r\n';
  for (let cut = 0; cut <= session.length; cut++) {
    const chunks = [session.slice(0, cut), session.slice(cut)];
    assert.deepEqual(leftAfter(chunks, ['EHLO a']), { pending: true, text: session.slice('EHLO a\r\n'.length) }, `cut at ${cut}`);
    assert.deepEqual(leftAfter(chunks, ['EHLO a', 'MAIL FROM:<x@y>', 'DATA']), { pending: true, text: 'QUIT\r\n' }, `cut at ${cut}`);
    assert.deepEqual(leftAfter(chunks, ['EHLO a', 'MAIL FROM:<x@y>', 'DATA', 'QUIT']), { pending: false, text: '' }, `cut at ${cut}`);
  }
});

test('an empty message ends at its first line; bare LF lines end commands', () => {
  assert.deepEqual(leftAfter(['DATA\r\n', '.', '\r\nNOOP\n'], ['DATA']), { pending: true, text: 'NOOP\n' });
  assert.deepEqual(leftAfter(['DATA\r\n.\r\nNOOP\n'], ['DATA', 'NOOP']), { pending: false, text: '' });
});

test('inside an unfinished message nothing is pending; a command that does not match the input loses the count', () => {
  assert.equal(leftAfter(['DATA\r\nSubject: s\r\n\r\nstill going\r\n'], ['DATA']).pending, false);
  assert.deepEqual(leftAfter(['EHLO a\r\nMAIL FROM:<x@y>\r\n'], ['RSET']), { pending: false, text: '' });
});

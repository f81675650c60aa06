// The milter protocol subset (src/milter/milter-protocol.ts) and the message
// meter, as pure code: framing across arbitrary chunk boundaries, the limits
// that close a connection, the packet parsers, the reply encodings, and the
// end-of-data facts measured from HEADER/BODY packets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ACCEPT, addHeader, Command, CONTINUE, optNegReply, PacketReader, parseConnect, parseMacros, parseOptNeg, readStrings, replyCode } from '../../src/milter/milter-protocol.ts';
import { MessageMeter } from '../../src/milter/message-meter.ts';
import { frame, packets } from '../helpers/milter-client.ts';

test('framing: packets split at every byte, and several in one chunk', () => {
  const stream = Buffer.concat([packets.optneg(), packets.connect('192.0.2.1'), packets.helo('client.example.net'), packets.body('x'.repeat(300))]);
  for (const step of [1, 2, 3, 7, 64, stream.length]) {
    const reader = new PacketReader();
    const got: number[] = [];
    for (let i = 0; i < stream.length; i += step) {
      const { packets: out, problem } = reader.feed(stream.subarray(i, i + step));
      assert.equal(problem, undefined);
      got.push(...out.map((p) => p.command));
    }
    assert.deepEqual(got, [Command.OPTNEG, Command.CONNECT, Command.HELO, Command.BODY], `chunks of ${step}`);
    assert.equal(reader.midPacket, false);
  }
});

test('framing: a zero length, or one past the limit, is refused from its 4 length bytes alone', () => {
  const reader = new PacketReader(1024);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(1025);
  assert.equal(reader.feed(head).problem, 'packet_too_large');
  assert.equal(new PacketReader().feed(Buffer.from([0, 0, 0, 0, 0x43])).problem, 'empty_packet');
  // Text (an SMTP or HTTP client on the wrong port) reads as a huge length.
  assert.equal(new PacketReader().feed(Buffer.from('EHLO client.example.net\r\n')).problem, 'packet_too_large');
  // What came before the bad packet is still returned.
  const mixed = new PacketReader().feed(Buffer.concat([packets.helo('a.example'), Buffer.from('GET / HTTP/1.0\r\n')]));
  assert.equal(mixed.packets.length, 1);
  assert.equal(mixed.problem, 'packet_too_large');
});

test('parsers: OPTNEG, CONNECT (IPv4, IPv6, unknown), MACRO, NUL-terminated strings', () => {
  const optneg = parseOptNeg(packets.optneg(6, 0x1ff, 0x1fffff).subarray(5));
  assert.deepEqual(optneg, { version: 6, actions: 0x1ff, protocol: 0x1fffff });
  assert.equal(parseOptNeg(Buffer.alloc(11)), undefined);
  assert.deepEqual(parseConnect(packets.connect('192.0.2.1', 4321).subarray(5)), { hostname: 'client.example.net', family: '4', port: 4321, address: '192.0.2.1' });
  assert.deepEqual(parseConnect(packets.connect('2001:db8::1', 1, 'h', '6').subarray(5)), { hostname: 'h', family: '6', port: 1, address: '2001:db8::1' });
  assert.deepEqual(parseConnect(Buffer.from('localhost\0U')), { hostname: 'localhost', family: 'U', port: 0, address: '' });
  assert.equal(parseConnect(Buffer.from('no nul at all')), undefined);
  assert.equal(parseConnect(Buffer.from('host\x004\x00\x01192.0.2.1')), undefined, 'address without its NUL');
  const macros = parseMacros(packets.macro('M', { i: 'ABC123', '{auth_authen}': 'alice' }).subarray(5));
  assert.equal(macros?.command, Command.MAIL);
  assert.deepEqual([...(macros?.macros ?? [])], [['i', 'ABC123'], ['{auth_authen}', 'alice']]);
  assert.deepEqual(readStrings(Buffer.from('<a@b.example>\0SIZE=10\0')), ['<a@b.example>', 'SIZE=10']);
  assert.deepEqual(readStrings(Buffer.from('one\0trailing')), ['one'], 'a piece without its NUL is dropped');
});

test('replies: the exact bytes', () => {
  assert.deepEqual(CONTINUE, frame('c'));
  assert.deepEqual(ACCEPT, frame('a'));
  assert.deepEqual(replyCode(554, '5.7.1', '<v@foreign.test>: Relay access denied'), frame('y', Buffer.from('554 5.7.1 <v@foreign.test>: Relay access denied\0')));
  // One line: CR/LF/NUL cannot reach the MTA's reply; % is doubled (Sendmail reads it as a format character).
  assert.deepEqual(replyCode(550, '5.6.0', 'a\r\nb 100%'), frame('y', Buffer.from('550 5.6.0 a b 100%%\0')));
  assert.deepEqual(addHeader('X-Relayguard', 'pass\r\n(x)'), frame('h', Buffer.from('X-Relayguard\0pass (x)\0')));
  const negotiated = optNegReply({ version: 6, actions: 1, protocol: 0x40 });
  assert.equal(negotiated.readUInt32BE(0), 13);
  assert.equal(String.fromCharCode(negotiated[4] as number), 'O');
  assert.deepEqual([negotiated.readUInt32BE(5), negotiated.readUInt32BE(9), negotiated.readUInt32BE(13)], [6, 1, 0x40]);
});

test('meter: size, bare CR / bare LF (across chunk boundaries), NUL, longest line', () => {
  const clean = new MessageMeter();
  clean.header('Subject', ' hello');
  clean.header('Received', ' from a\n\tby b');
  clean.body(Buffer.from('line one\r\n'));
  clean.body(Buffer.from('line two\r'));
  clean.body(Buffer.from('\nend\r\n'));
  const facts = clean.end();
  const whole = 'Subject: hello\r\nReceived: from a\r\n\tby b\r\n\r\nline one\r\nline two\r\nend\r\n';
  assert.deepEqual(facts, { size: whole.length, bareLineEnding: false, nul: false, longestLine: 'Received: from a\r\n'.length });

  const bareLf = new MessageMeter();
  bareLf.body(Buffer.from('one\ntwo\r\n'));
  assert.equal(bareLf.end().bareLineEnding, true);
  const bareCr = new MessageMeter();
  bareCr.body(Buffer.from('one\r'));
  bareCr.body(Buffer.from('two\r\n'));
  assert.equal(bareCr.end().bareLineEnding, true, 'a CR at a chunk end not followed by LF');
  const lfAfterChunk = new MessageMeter();
  lfAfterChunk.body(Buffer.from('one\r\n'));
  lfAfterChunk.body(Buffer.from('\ntwo\r\n'));
  assert.equal(lfAfterChunk.end().bareLineEnding, true, 'an LF at a chunk start after a CRLF');
  const trailingCr = new MessageMeter();
  trailingCr.body(Buffer.from('one\r'));
  assert.equal(trailingCr.end().bareLineEnding, true, 'a message ending in a lone CR');
  const nul = new MessageMeter();
  nul.body(Buffer.from('a\0b\r\n'));
  assert.equal(nul.end().nul, true);
  const long = new MessageMeter();
  long.body(Buffer.from('x'.repeat(600)));
  long.body(Buffer.from(`${'x'.repeat(600)}\r\n`));
  assert.equal(long.end().longestLine, 1202);
  const empty = new MessageMeter();
  empty.header('Subject', ' s');
  assert.deepEqual(empty.end(), { size: 'Subject: s\r\n\r\n'.length, bareLineEnding: false, nul: false, longestLine: 'Subject: s\r\n'.length });
});

// npm test: own process
// The replies to a pipelined group (RFC 2920) leave the server in one write:
// while more of the client's commands are waiting, each reply is held in the
// socket, and the group's last reply (or a 354, a 221) sends them all. A
// client that does not pipeline gets each reply at once, as before. What is
// counted is the server's writes on its side of the connection (this process
// wraps net.Socket's write path, hence its own process): how the client's
// reads are chunked says nothing, the kernel merges segments it has not read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { SmtpTalk } from '../helpers/smtp-talk.ts';
import { startDoor } from '../helpers/front-door-harness.ts';

/** Writes (write or writev) made by sockets whose local port is `port`: the server's side. */
function countServerWrites(port: () => number): { count: () => number; restore: () => void } {
  const proto = net.Socket.prototype as unknown as { _writeGeneric: (this: net.Socket, ...args: unknown[]) => unknown };
  const original = proto._writeGeneric;
  let writes = 0;
  proto._writeGeneric = function (this: net.Socket, ...args: unknown[]) {
    if (this.localPort === port()) writes++;
    return original.apply(this, args);
  };
  return { count: () => writes, restore: () => void (proto._writeGeneric = original) };
}

test('a pipelined MAIL, RCPT, DATA group is answered in one write, and the dot with QUIT behind it in one more', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const writes = countServerWrites(() => relay.port('mx'));
  t.after(() => writes.restore());
  const client = await SmtpTalk.connect({ port: relay.port('mx') });
  t.after(() => client.close());
  assert.equal((await client.read())?.code, 220);
  assert.equal((await client.command('EHLO client.test')).code, 250);
  const before = writes.count();
  client.write('MAIL FROM:<alice@sender.test>\r\nRCPT TO:<bob@example.test>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n');
  assert.deepEqual([(await client.read())?.code, (await client.read())?.code, (await client.read())?.code, (await client.read())?.code], [250, 250, 250, 354]);
  assert.equal(writes.count() - before, 1, 'one write for the four replies');
  const afterGroup = writes.count();
  client.write('Subject: one\r\n\r\nbody\r\n.\r\nQUIT\r\n');
  const queued = await client.read();
  assert.match(queued?.lines[0] ?? '', /^250 2\.0\.0 /);
  assert.equal((await client.read())?.code, 221);
  assert.equal(await client.read(), null, 'closed after the 221');
  assert.equal(writes.count() - afterGroup, 1, 'the 250 for the message and the 221 in one write');
  assert.equal(relay.intake.messages.length, 1);
});

test('a client that waits for each reply gets each one in its own write, at once', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const writes = countServerWrites(() => relay.port('mx'));
  t.after(() => writes.restore());
  const client = await SmtpTalk.connect({ port: relay.port('mx') });
  t.after(() => client.close());
  assert.equal((await client.read())?.code, 220);
  const before = writes.count();
  assert.equal((await client.command('EHLO client.test')).code, 250);
  assert.equal((await client.command('MAIL FROM:<alice@sender.test>')).code, 250);
  assert.equal((await client.command('RCPT TO:<bob@example.test>')).code, 250);
  assert.equal((await client.command('DATA')).code, 354);
  assert.equal((await client.command('Subject: one\r\n\r\nbody\r\n.')).code, 250);
  assert.equal(writes.count() - before, 5);
});

test('a refused recipient inside a group is held with the rest: the group still leaves in one write, in order', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const writes = countServerWrites(() => relay.port('mx'));
  t.after(() => writes.restore());
  const client = await SmtpTalk.connect({ port: relay.port('mx') });
  t.after(() => client.close());
  assert.equal((await client.read())?.code, 220);
  assert.equal((await client.command('EHLO client.test')).code, 250);
  const before = writes.count();
  client.write('MAIL FROM:<alice@sender.test>\r\nRCPT TO:<bob@refused.test>\r\nRCPT TO:<bob@example.test>\r\nRSET\r\n');
  const codes = [(await client.read())?.code, (await client.read())?.code, (await client.read())?.code, (await client.read())?.code];
  assert.equal(codes[0], 250);
  assert.ok((codes[1] ?? 0) >= 500, `the foreign recipient is refused (${codes.join(' ')})`);
  assert.deepEqual(codes.slice(2), [250, 250]);
  assert.equal(writes.count() - before, 1);
});

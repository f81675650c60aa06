// RelayConnection._parseAddressCommand remembers smtp-server's parse of a
// MAIL FROM / RCPT TO line whose path is the placeholder (PlaceholderParses).
// What it returns must be exactly what it returned when smtp-server parsed
// every line afresh, whether remembered or not, and never shared between calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { PlaceholderParses, RelaySmtpServer } from '../../src/smtp/relay-smtp-server.ts';
import { seededRandom } from '../helpers/seeded-random.ts';

type Parse = ReturnType<SMTPConnection['_parseAddressCommand']>;

/** The override as it was before its results were remembered: smtp-server parses every line. */
function parsedAfresh(connection: SMTPConnection, rawName: string, rawCommand: string): Parse {
  const command = rawCommand.toString();
  const match = /^[^:]*:\s*<([^<>]*)>/.exec(command);
  if (!match) return SMTPConnection.prototype._parseAddressCommand.call(connection, rawName, rawCommand);
  if (!/^(?: +[A-Za-z0-9][A-Za-z0-9-]*(?:=[\x21-\x3c\x3e-\x7e\u0080-\u{10FFFF}]+)?)* *$/u.test(command.slice(match[0].length))) return false;
  const parsed = SMTPConnection.prototype._parseAddressCommand.call(connection, rawName, command.replace(/<[^<>]*>/, '<placeholder@example.invalid>'));
  if (!parsed) return false;
  return { ...parsed, address: match[1] as string };
}

function lines(count: number, seed: number): Array<[string, string]> {
  const next = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const verbs = [['mail from', ['MAIL FROM', 'mail from', 'Mail From', 'MAIL  FROM', 'RCPT TO']], ['rcpt to', ['RCPT TO', 'rcpt to', 'Rcpt To ', 'MAIL FROM']]] as const;
  const paths = ['<>', '<a@b.test>', '<user@example.com>', '<@relay.test:u@d.test>', '<Postmaster>', '<x@[127.0.0.1]>', '<bad address@x>', '<ü@bücher.test>', '', '<<a@b>>', '<a@b> <c@d>'];
  const params = ['SIZE=1024', 'SIZE=', 'SIZE', 'BODY=8BITMIME', 'BODY=7BIT', 'SMTPUTF8', 'RET=HDRS', 'ENVID=a+2Bb', 'ENVID=ab+0D+0Acd', 'NOTIFY=SUCCESS,FAILURE', 'NOTIFY=NEVER', 'ORCPT=rfc822;a@b', 'REQUIRETLS', 'X-FOO=bär', 'size=1', 'SIZE=1024', '=x', 'A=b=c', 'glued<x>'];
  const out: Array<[string, string]> = [];
  for (let i = 0; i < count; i++) {
    const [rawName, spellings] = pick(verbs);
    const sep = pick([':', ': ', ':  ', ' :']);
    const extra = Array.from({ length: Math.floor(next() * 4) }, () => pick([' ', '  ']) + pick(params)).join('');
    out.push([rawName, `${pick(spellings)}${sep}${pick(paths)}${extra}${pick(['', ' ', '  '])}`]);
  }
  return out;
}

async function relayConnection(t: { after: (fn: () => Promise<void> | void) => void }): Promise<{ server: RelaySmtpServer; connection: SMTPConnection }> {
  const server = new RelaySmtpServer({ logger: false, disableReverseLookup: true, hideSTARTTLS: true, authOptional: true });
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  const client = net.connect({ host: '127.0.0.1', port: (server.server.address() as net.AddressInfo).port });
  // The client first: the server's close waits for its connections.
  t.after(async () => {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  await once(client, 'connect');
  for (let i = 0; i < 200 && server.connections.size === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  const [connection] = [...server.connections];
  assert.ok(connection, 'the server has the connection');
  return { server, connection };
}

test('a remembered parse returns exactly what a fresh parse by smtp-server returns, on seeded random MAIL FROM / RCPT TO lines', async (t) => {
  const { server, connection } = await relayConnection(t);
  const sample = lines(4000, 20261206);
  let hits = 0;
  const seen = new Set<string>();
  for (const [rawName, line] of sample) {
    const key = `${rawName}\n${line}`;
    if (seen.has(key)) hits++;
    seen.add(key);
    const expected = parsedAfresh(connection, rawName, line);
    assert.deepEqual(connection._parseAddressCommand(rawName, line), expected, `${rawName}: ${line}`);
    assert.deepEqual(connection._parseAddressCommand(rawName, Buffer.from(line)), expected, `${rawName}: ${line} (as a Buffer)`);
  }
  // Each line is asked twice (as a string, then as a Buffer): the second is remembered whenever the line has a path.
  assert.ok(hits > 200, `the sample repeats lines too, as transactions do (${hits} repeats)`);
  assert.ok(server.placeholderParses.size > 0, 'the parses went through PlaceholderParses');
  const accepted = sample.filter(([rawName, line]) => parsedAfresh(connection, rawName, line) !== false).length;
  assert.ok(accepted > 500 && accepted < sample.length - 500, `the sample has both accepted and refused lines (${accepted} accepted)`);
});

test('what a remembered parse returns is a copy: changing it (as smtp-server and the front door do) changes no later parse', async (t) => {
  const { connection } = await relayConnection(t);
  const first = connection._parseAddressCommand('rcpt to', 'RCPT TO:<a@b.test> NOTIFY=SUCCESS ORCPT=rfc822;a@b.test');
  assert.ok(first && first.args);
  (first.args as Record<string, unknown>).NOTIFY = 'changed';
  (first as unknown as Record<string, unknown>).dsn = { notify: ['SUCCESS'] };
  const second = connection._parseAddressCommand('rcpt to', 'RCPT TO:<c@d.test> NOTIFY=SUCCESS ORCPT=rfc822;a@b.test');
  assert.deepEqual(second, { address: 'c@d.test', args: { NOTIFY: 'SUCCESS', ORCPT: 'rfc822;a@b.test' } });
  assert.notEqual(second, first);
  assert.notEqual(second && second.args, first.args);
  const duplicate = connection._parseAddressCommand('mail from', 'MAIL FROM:<> SIZE=1 SIZE=2');
  assert.deepEqual(duplicate, { address: '', args: { SIZE: '2' }, duplicate: 'SIZE' });
  assert.deepEqual(connection._parseAddressCommand('mail from', 'MAIL FROM:<x@y> SIZE=1 SIZE=2'), { address: 'x@y', args: { SIZE: '2' }, duplicate: 'SIZE' });
});

test('PlaceholderParses holds at most LIMIT lines: a client that varies its parameters only refills it', () => {
  const parses = new PlaceholderParses();
  for (let i = 0; i < PlaceholderParses.LIMIT * 3 + 7; i++) {
    const line = `MAIL FROM:<placeholder@example.invalid> SIZE=${i}`;
    assert.equal(parses.lookup('mail from', line), undefined);
    parses.remember('mail from', line, { address: 'placeholder@example.invalid', args: { SIZE: String(i) } });
    assert.ok(parses.size <= PlaceholderParses.LIMIT, `size ${parses.size}`);
    assert.deepEqual(parses.lookup('mail from', line), { address: 'placeholder@example.invalid', args: { SIZE: String(i) } });
  }
  parses.remember('rcpt to', 'RCPT TO:<placeholder@example.invalid>', false);
  assert.equal(parses.lookup('rcpt to', 'RCPT TO:<placeholder@example.invalid>'), false, 'a refusal is remembered too');
  assert.equal(parses.lookup('mail from', 'RCPT TO:<placeholder@example.invalid>'), undefined, 'by verb');
});

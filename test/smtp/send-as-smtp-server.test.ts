// sendAsSmtpServer (relay-smtp-server.ts) is smtp-server's SMTPConnection.send
// without its per-reply garbage: on seeded random replies it must write the
// same bytes, set the same session.error, log the same debug line when a
// logger is on, and close on the same replies as the original.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { SMTPServer } from 'smtp-server';
import { sendAsSmtpServer } from '../../src/smtp/relay-smtp-server.ts';
import { seededRandom } from '../helpers/seeded-random.ts';

interface Seen {
  written: string[];
  logged: unknown[][];
  closes: number;
  error: unknown;
}

/** A connection of smtp-server's class on a fake socket that records what is written. */
function fakeConnection(server: SMTPServer, state: { readyState: string; destroyed: boolean; upgrading: boolean; user: unknown }): { connection: SMTPConnection; seen: Seen } {
  const seen: Seen = { written: [], logged: [], closes: 0, error: undefined };
  const connection = Object.create(SMTPConnection.prototype) as SMTPConnection;
  const logger = new Proxy({}, { get: (_target, level) => (...args: unknown[]) => seen.logged.push([level, ...args]) });
  Object.assign(connection, {
    id: 'session-id',
    _server: { options: server.options, logger: server.options.logger ? logger : server.logger },
    _socket: { readyState: state.readyState, destroyed: state.destroyed, write: (chunk: string) => seen.written.push(chunk) },
    _upgrading: state.upgrading,
    session: { id: 'session-id', ...(state.user === undefined ? {} : { user: state.user }) },
    close: () => {
      seen.closes++;
    },
  });
  Object.defineProperty(seen, 'error', { get: () => (connection.session as { error?: unknown }).error });
  return { connection, seen };
}

test('sendAsSmtpServer writes, records and closes exactly as smtp-server send() does, on seeded random replies', () => {
  const next = seededRandom(20261206);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const servers = [
    new SMTPServer({ logger: false, disableReverseLookup: true }),
    new SMTPServer({ logger: false, disableReverseLookup: true, hideENHANCEDSTATUSCODES: true } as ConstructorParameters<typeof SMTPServer>[0]),
    new SMTPServer({ logger: { debug() {}, info() {}, warn() {}, error() {}, trace() {}, fatal() {} } as never, disableReverseLookup: true }),
    new SMTPServer({ disableReverseLookup: true }),
  ];
  const codes = [220, 221, 235, 250, 251, 252, 334, 354, 421, 450, 451, 452, 454, 500, 501, 502, 503, 504, 530, 535, 538, 550, 552, 553, 554, 555, 299, 399, 499, 599];
  const texts = ['Ok', '', '2.1.0 Ok', 'relay.test ESMTP', 'Error: command not recognized', 'a\r\nb', 'tab\there', 'nul\u0000x', 'c1\u0085x', 'del\u007f', 'ü ñ 字', 'End data with <CR><LF>.<CR><LF>', '  spaced  '];
  const contexts = [undefined, false, 'HELO', 'EHLO', 'MAIL_FROM_OK', 'RCPT_TO_OK', 'DATA', 'QUIT', 'SENDER_SYNTAX_ERROR', 'MAILBOX_SYNTAX_ERROR', 'MESSAGE_TOO_BIG', 'NO_SUCH_CONTEXT', 'AUTH'] as const;
  for (let i = 0; i < 5000; i++) {
    const server = pick(servers);
    const state = { readyState: pick(['open', 'open', 'open', 'writeOnly', 'readOnly']), destroyed: next() < 0.1, upgrading: next() < 0.1, user: pick([undefined, undefined, 'bob', { username: 'alice' }]) };
    const code = pick(codes);
    const data = next() < 0.2 ? Array.from({ length: Math.floor(next() * 6) }, () => pick(texts)) : pick([...texts, null, undefined]);
    const context = pick(contexts);
    const original = fakeConnection(server, state);
    const ours = fakeConnection(server, state);
    SMTPConnection.prototype.send.call(original.connection, code, data as string, context as string);
    sendAsSmtpServer(ours.connection, code, data as string | string[] | null | undefined, context);
    const what = JSON.stringify({ code, data, context, state, logger: Boolean(server.options.logger) });
    assert.deepEqual(ours.seen.written, original.seen.written, what);
    assert.equal(ours.seen.error, original.seen.error, what);
    assert.equal(ours.seen.closes, original.seen.closes, what);
    assert.deepEqual(ours.seen.logged, original.seen.logged, what);
  }
});

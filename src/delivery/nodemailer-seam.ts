// The nodemailer seam: the only file that touches nodemailer's internals
// (underscore members of its SMTPConnection), against the exact version
// pinned in package.json. smtp-session.ts uses SMTPConnection's documented
// API (connect, login, send, reset, quit, close, secure, destroyed) and these
// functions. Each one falls back to nodemailer's own behaviour when the
// members it needs are missing, and says whether it could do its part;
// test/smtp/third-party-seams.test.ts checks every member listed in
// NODEMAILER_SEAM against the installed package (and that every `._member`
// written in this file is listed there), so an upgrade that moves one fails
// in CI rather than quietly taking the fallback.
import type SMTPConnection from 'nodemailer/lib/smtp-connection';

/** Every nodemailer member this file relies on, with its shape in the pinned version. */
export const NODEMAILER_SEAM = {
  library: 'nodemailer',
  version: '10.6.1',
  /** SMTPConnection.prototype methods wrapped, with their arity (Function.length). */
  connectionMethods: {
    _createSendStream: 1,
    _sendCommand: 2,
  },
  /**
   * Fields read on a connection, with the typeof of the values they take:
   * false until connected / outside a transaction, then the socket / the envelope.
   */
  connectionFields: {
    _socket: ['boolean', 'object'],
    _envelope: ['boolean', 'object'],
    _supportedExtensions: ['object'],
  },
  /** Fields of `_envelope` during a transaction. */
  envelopeFields: {
    rejectedErrors: 'array',
  },
} as const;

/** A recipient refused at RCPT time, as nodemailer records it. */
export interface RecipientRefusal extends Error {
  recipient?: string;
  response?: string;
  responseCode?: number;
}

interface Internals {
  _createSendStream?: (...args: unknown[]) => unknown;
  _sendCommand?: (...args: unknown[]) => unknown;
  _supportedExtensions?: unknown;
  _socket?: { cork?: () => void; uncork?: () => void } | false | null;
  _envelope?: { rejectedErrors?: unknown } | false;
}

/**
 * nodemailer writes a message as two write(2)s: the body, then the final
 * "." that its dot-stuffing stream pushes when it ends. Both are written in
 * the same tick, so with the socket corked from the moment the body stream
 * is made until the next tick they leave as one writev: one segment for the
 * upstream to read instead of two, and one system call less per message.
 * Wraps the private _createSendStream and corks the private _socket; if
 * either has changed, messages go out as before, in two writes.
 * Returns whether the wrap is in place.
 */
export function coalesceBodyWrites(conn: SMTPConnection): boolean {
  const internals = conn as unknown as Internals;
  const create = internals._createSendStream;
  if (typeof create !== 'function') return false;
  internals._createSendStream = (...args: unknown[]) => {
    const socket = internals._socket;
    if (!socket || typeof socket.cork !== 'function' || typeof socket.uncork !== 'function') return create.apply(conn, args);
    socket.cork();
    const uncork = socket.uncork.bind(socket);
    process.nextTick(uncork);
    return create.apply(conn, args);
  };
  return true;
}

/**
 * The RCPT refusals of the transaction in progress (nodemailer's private
 * _envelope.rejectedErrors), for a failed send whose error does not carry
 * them; undefined when there is no such list.
 */
export function recipientRefusals(conn: SMTPConnection): readonly RecipientRefusal[] | undefined {
  const envelope = (conn as unknown as Internals)._envelope;
  const errors = envelope ? envelope.rejectedErrors : undefined;
  return Array.isArray(errors) ? (errors as RecipientRefusal[]) : undefined;
}

/**
 * The ESMTP keywords the server offered in its EHLO reply, as nodemailer
 * recognised them (private _supportedExtensions: SMTPUTF8, DSN, 8BITMIME,
 * PIPELINING, SIZE, REQUIRETLS...); undefined when there is no such list
 * (the caller must then assume nothing is offered).
 */
export function serverExtensions(conn: SMTPConnection): readonly string[] | undefined {
  const list = (conn as unknown as Internals)._supportedExtensions;
  return Array.isArray(list) && list.every((k) => typeof k === 'string') ? (list as string[]) : undefined;
}

/**
 * nodemailer builds MAIL FROM and RCPT TO itself and can neither declare
 * SMTPUTF8 for an ASCII envelope nor give each RCPT its own NOTIFY/ORCPT.
 * Wraps the private _sendCommand so every command passes through
 * `rewrite()` (when it returns a function) before it is written; the log
 * form is rewritten the same way. Returns whether the wrap is in place.
 */
export function rewriteCommands(conn: SMTPConnection, rewrite: () => ((command: string) => string) | undefined): boolean {
  const internals = conn as unknown as Internals;
  const send = internals._sendCommand;
  if (typeof send !== 'function') return false;
  internals._sendCommand = (...args: unknown[]) => {
    const change = rewrite();
    if (!change || typeof args[0] !== 'string') return send.apply(conn, args);
    const command = change(args[0]);
    const logged = typeof args[1] === 'string' && args[1] === args[0] ? command : args[1];
    return send.apply(conn, [command, logged, ...args.slice(2)]);
  };
  return true;
}

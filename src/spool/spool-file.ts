// PURE. The layout of one message file in the spool: a single header line
//   RGSPOOL1 {"id":...,"sender":...,"recipients":[...],...}\n
// followed by the message bytes exactly as accepted: the payload of a segment
// record (segment-record.ts) and the content of a queue/<id>.msg file alike.
// A file is only ever renamed into the queue directory once complete and
// fsynced, so a file there is whole by construction (a record is checked by
// its CRC); the header carries the envelope so one write covers both.
import type { HoldMark } from './state-journal.ts';
import type { Envelope } from './types.ts';

export const SPOOL_MAGIC = 'RGSPOOL1 ';
/** An envelope header longer than this is corrupt (1,000 recipients of 256 bytes fit). */
export const MAX_HEADER_BYTES = 512 * 1024;

export interface StoredEnvelope extends Envelope {
  readonly id: string;
  /** Held at accept time (AcceptOptions.hold): written with the message, so no write can hold it later than its 250. */
  readonly held?: HoldMark;
}

/** The envelope as a message's header stores it (and the body cache keeps it). */
export function storedEnvelope(id: string, envelope: Envelope, held?: HoldMark): StoredEnvelope {
  return { ...envelope, id, ...(held ? { held } : {}) };
}

export function encodeStoredHeader(stored: StoredEnvelope): Buffer {
  return Buffer.from(`${SPOOL_MAGIC}${JSON.stringify(stored)}\n`, 'utf8');
}

export function encodeSpoolHeader(id: string, envelope: Envelope, held?: HoldMark): Buffer {
  return encodeStoredHeader(storedEnvelope(id, envelope, held));
}

export type HeaderParse =
  | { readonly ok: true; readonly envelope: StoredEnvelope; readonly bodyOffset: number }
  | { readonly ok: false; readonly reason: 'incomplete' | 'corrupt' };

/** Parses the header from the first bytes of a message file. */
export function decodeSpoolHeader(head: Buffer): HeaderParse {
  if (head.length < SPOOL_MAGIC.length) return { ok: false, reason: 'incomplete' };
  if (head.toString('latin1', 0, SPOOL_MAGIC.length) !== SPOOL_MAGIC) return { ok: false, reason: 'corrupt' };
  const newline = head.indexOf(0x0a, SPOOL_MAGIC.length);
  if (newline < 0) return { ok: false, reason: head.length >= MAX_HEADER_BYTES ? 'corrupt' : 'incomplete' };
  try {
    const parsed = JSON.parse(head.toString('utf8', SPOOL_MAGIC.length, newline)) as StoredEnvelope;
    if (typeof parsed.id !== 'string' || typeof parsed.sender !== 'string' || !Array.isArray(parsed.recipients)) {
      return { ok: false, reason: 'corrupt' };
    }
    return { ok: true, envelope: parsed, bodyOffset: newline + 1 };
  } catch {
    return { ok: false, reason: 'corrupt' };
  }
}

/** The header block of a message (up to the first empty line), for bounces and `queue show`. */
export function headerBlock(body: Buffer, limit = 64 * 1024): Buffer {
  const slice = body.length > limit ? body.subarray(0, limit) : body;
  const crlf = slice.indexOf('\r\n\r\n');
  if (crlf >= 0) return slice.subarray(0, crlf + 2);
  const lf = slice.indexOf('\n\n');
  if (lf >= 0) return slice.subarray(0, lf + 1);
  return slice;
}

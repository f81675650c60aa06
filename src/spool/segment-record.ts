// PURE. One message in a segment file (segments.ts): a fixed-width prefix
//   RGREC1 <length: 10 digits> <crc32: 8 hex>\n
// then `length` bytes of payload: the spool-file encoding of the message
// (spool-file.ts: header line + message bytes), byte for byte what a
// per-message file in queue/ holds, so moving a message out of a segment is a
// plain copy. The CRC finds torn or zero-filled tails after a crash.
import { crc32 } from 'node:zlib';

export const RECORD_MAGIC = 'RGREC1 ';
export const PREFIX_BYTES = RECORD_MAGIC.length + 10 + 1 + 8 + 1;

/** The prefix for a payload made of these buffers. */
export function encodeRecordPrefix(payload: readonly Buffer[]): Buffer {
  let length = 0;
  let crc = 0;
  for (const part of payload) {
    length += part.length;
    crc = crc32(part, crc);
  }
  return Buffer.from(`${RECORD_MAGIC}${String(length).padStart(10, '0')} ${crc.toString(16).padStart(8, '0')}\n`, 'latin1');
}

export interface RecordSpan {
  /** Offset of the payload in the segment. */
  readonly offset: number;
  readonly length: number;
}

/**
 * The records of a segment's bytes, in order. Bytes that do not check out (a
 * torn or zero-filled tail after a crash: only never-acknowledged appends can
 * be there; or damage in the middle) are skipped up to the next record whose
 * prefix and CRC are right, and counted in `skippedBytes`.
 */
export function readRecords(segment: Buffer): { records: RecordSpan[]; skippedBytes: number; skipped: RecordSpan[] } {
  const records: RecordSpan[] = [];
  const skipped: RecordSpan[] = [];
  let skippedBytes = 0;
  let at = 0;
  while (at < segment.length) {
    const record = recordAt(segment, at);
    if (record) {
      records.push(record);
      at = record.offset + record.length;
      continue;
    }
    const next = segment.indexOf(RECORD_MAGIC, at + 1, 'latin1');
    const resume = next < 0 ? segment.length : next;
    skippedBytes += resume - at;
    skipped.push({ offset: at, length: resume - at });
    at = resume;
  }
  return { records, skippedBytes, skipped };
}

function recordAt(segment: Buffer, at: number): RecordSpan | undefined {
  if (at + PREFIX_BYTES > segment.length) return undefined;
  const match = /^RGREC1 (\d{10}) ([0-9a-f]{8})\n$/.exec(segment.toString('latin1', at, at + PREFIX_BYTES));
  if (!match) return undefined;
  const length = Number(match[1]);
  const offset = at + PREFIX_BYTES;
  if (offset + length > segment.length) return undefined;
  if (crc32(segment.subarray(offset, offset + length)) !== parseInt(match[2] as string, 16)) return undefined;
  return { offset, length };
}

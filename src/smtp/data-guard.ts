// A Transform between smtp-server's DATA stream and the spool. It prepends
// our Received: header and measures the message as it streams: the bytes
// actually sent, bare LF / bare CR line endings (how SMTP smuggling splits one
// message into two at a less strict upstream: <LF>.<LF>, <LF>.<CR><LF>,
// <CR>.<CR><LF>), NUL octets and the longest line. These are the end-of-data
// facts. It decides nothing itself: when a finding appears (and once at the
// end) it asks `decide` (the session driver's end-of-data stage, where the
// DATA rules act); a refusal stops the stream before the spool commits. In
// "normalize" mode it repairs bare line endings into CRLF as it goes.
// Without `decide` (standalone use, tests) it stops at its first finding.
import { Transform, type TransformCallback } from 'node:stream';
import type { Decision } from '../policy/decision.ts';
import type { MessageFacts } from '../policy/facts.ts';

export type BareLineEndingMode = 'reject' | 'normalize';

export class DataRefusedError extends Error {
  readonly code: 'DATA_BARE_LINE_ENDING' | 'DATA_TOO_LARGE' | 'DATA_NUL' | 'DATA_LINE_TOO_LONG';
  readonly temporary = false;
  /** The end-of-data Decision that stopped the stream (absent without `decide`). */
  readonly decision: Decision | undefined;
  constructor(code: DataRefusedError['code'], message: string, decision?: Decision) {
    super(message);
    this.name = 'DataRefusedError';
    this.code = code;
    this.decision = decision;
  }
}

/** Asked with the facts so far when a finding appears, and with the final facts at the end. */
export type DecideMessage = (facts: MessageFacts) => Decision;

export interface DataGuardOptions {
  readonly header: string;
  /** Past this many octets a refusal is asked for, and reading stops if it comes. */
  readonly maxBytes: number;
  readonly bareLineEndings: BareLineEndingMode;
  /** Longest text line in octets including CRLF (RFC 5321 §4.5.3.1.6: 1000). */
  readonly maxLineLength?: number;
  readonly decide?: DecideMessage;
}

type Finding = DataRefusedError['code'];

const CR = 0x0d;
const LF = 0x0a;

export class DataGuard extends Transform {
  readonly #maxBytes: number;
  readonly #mode: BareLineEndingMode;
  /** Longest text line in octets including CRLF (RFC 5321 §4.5.3.1.6: 1000). */
  readonly #maxLineLength: number;
  /** Octets of the current (unfinished) line seen so far. */
  #lineLength = 0;
  #header: Buffer | null;
  #bytes = 0;
  /** The previous chunk ended in CR whose LF may start the next chunk. */
  #pendingCr = false;
  #refused: DataRefusedError | null = null;
  /** The last byte of the previous chunk was CR (an LF at offset 0 is then fine). */
  #crBeforeChunk = false;
  readonly #decide: DecideMessage | undefined;
  // The facts measured so far.
  #bare = false;
  #nul = false;
  #longestLine = 0;
  #sizeAsked = false;

  constructor(options: DataGuardOptions) {
    super();
    this.#maxLineLength = options.maxLineLength ?? 1000;
    this.#header = Buffer.from(options.header, 'latin1');
    this.#maxBytes = options.maxBytes;
    this.#mode = options.bareLineEndings;
    this.#decide = options.decide;
  }

  /** What was measured so far (the whole message once the stream has ended). */
  get facts(): MessageFacts {
    return { size: this.#bytes, bareLineEnding: this.#bare, nul: this.#nul, longestLine: this.#longestLine };
  }

  /**
   * A finding appeared: ask whether it stops the message. Returns true when
   * it does (this.#refused is then set). Without `decide`, every finding
   * stops it except a bare line ending that normalize mode repairs.
   */
  #found(finding: Finding, message: string): boolean {
    if (finding === 'DATA_BARE_LINE_ENDING') this.#bare = true;
    if (finding === 'DATA_NUL') this.#nul = true;
    if (!this.#decide) {
      if (finding === 'DATA_BARE_LINE_ENDING' && this.#mode === 'normalize') return false;
      this.#refused = new DataRefusedError(finding, message);
      return true;
    }
    const decision = this.#decide(this.facts);
    if (decision.verdict !== 'reject' && decision.verdict !== 'defer') return false;
    this.#refused = new DataRefusedError(codeOf(decision) ?? finding, message, decision);
    return true;
  }

  /** The refusal found in the data, if any (set before the stream errors). */
  get refused(): DataRefusedError | null {
    return this.#refused;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#refused) return callback();
    this.#bytes += chunk.length;
    if (this.#bytes > this.#maxBytes && !this.#sizeAsked) {
      this.#sizeAsked = true;
      if (this.#found('DATA_TOO_LARGE', 'message exceeds the size limit')) return callback(this.#refused);
    }
    if (this.#header) {
      this.push(this.#header);
      this.#header = null;
    }
    const output = this.#scan(chunk);
    if (this.#refused) return callback(this.#refused);
    if (output) this.push(output);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.#refused) return callback(this.#refused);
    if (this.#header) this.push(this.#header);
    if (this.#pendingCr) {
      // A message ending in a lone CR: the terminator's CRLF was consumed by smtp-server.
      this.#pendingCr = false;
      if (!this.#bare && this.#found('DATA_BARE_LINE_ENDING', 'bare CR in message')) return callback(this.#refused);
      if (this.#mode === 'normalize') this.push(Buffer.from('\r\n'));
    }
    // End of data: the DATA rules decide on the whole message, before the spool commits.
    if (this.#decide) {
      const decision = this.#decide(this.facts);
      if (decision.verdict === 'reject' || decision.verdict === 'defer') {
        this.#refused = new DataRefusedError(codeOf(decision) ?? 'DATA_TOO_LARGE', `refused at end of data: ${decision.reason}`, decision);
        return callback(this.#refused);
      }
    }
    callback();
  }

  /** Returns the bytes to pass on, or null when refusing. Clean chunks pass without a copy. */
  #scan(chunk: Buffer): Buffer | null {
    if (!this.#nul && chunk.indexOf(0) !== -1 && this.#found('DATA_NUL', 'NUL character in message')) return null;
    const before = this.#longestLine;
    this.#measureLines(chunk);
    if (this.#longestLine > this.#maxLineLength && before <= this.#maxLineLength) {
      if (this.#found('DATA_LINE_TOO_LONG', `message line longer than ${this.#maxLineLength} octets`)) return null;
    }
    // Once a bare line ending was found (and let through), strict mode has nothing more to look for.
    if (this.#mode === 'reject') return this.#bare ? chunk : this.#scanStrict(chunk);
    return this.#scanNormalizing(chunk);
  }

  /** Tracks the longest line; an unfinished line counts with the LF it still needs. */
  #measureLines(chunk: Buffer): void {
    let lineStart = 0;
    let lf = chunk.indexOf(LF);
    while (lf !== -1) {
      const length = this.#lineLength + (lf + 1 - lineStart);
      if (length > this.#longestLine) this.#longestLine = length;
      this.#lineLength = 0;
      lineStart = lf + 1;
      lf = chunk.indexOf(LF, lineStart);
    }
    this.#lineLength += chunk.length - lineStart;
    if (this.#lineLength + 1 > this.#longestLine) this.#longestLine = this.#lineLength + 1;
  }

  /** Reject mode: every LF must follow a CR and every CR precede an LF. indexOf keeps it fast. */
  #scanStrict(chunk: Buffer): Buffer | null {
    // A bare line ending found: refused, or let through unchanged if the DATA rules allow it.
    const bare = (what: string): Buffer | null => (this.#found('DATA_BARE_LINE_ENDING', `bare ${what} in message`) ? null : chunk);
    if (this.#pendingCr) {
      this.#pendingCr = false;
      if (chunk[0] !== LF) return bare('CR');
    }
    for (let lf = chunk.indexOf(LF); lf !== -1; lf = chunk.indexOf(LF, lf + 1)) {
      if (lf === 0 ? !this.#crBeforeChunk : chunk[lf - 1] !== CR) return bare('LF');
    }
    for (let cr = chunk.indexOf(CR); cr !== -1; cr = chunk.indexOf(CR, cr + 1)) {
      if (cr + 1 === chunk.length) this.#pendingCr = true;
      else if (chunk[cr + 1] !== LF) return bare('CR');
    }
    this.#crBeforeChunk = chunk[chunk.length - 1] === CR;
    return chunk;
  }

  /** Normalize mode: bare LF and bare CR become CRLF. */
  #scanNormalizing(chunk: Buffer): Buffer | null {
    let fixes: number[] | null = null; // positions needing a CRLF repair in normalize mode
    let start = 0;
    if (this.#pendingCr) {
      this.#pendingCr = false;
      if (chunk[0] === LF) {
        start = 1;
      } else {
        if (!this.#bare && this.#found('DATA_BARE_LINE_ENDING', 'bare CR in message')) return null;
        this.push(Buffer.from('\n'));
      }
    }
    for (let i = start; i < chunk.length; i++) {
      const byte = chunk[i];
      if (byte === CR) {
        if (i + 1 === chunk.length) {
          this.#pendingCr = true;
        } else if (chunk[i + 1] === LF) {
          i++;
        } else {
          if (!this.#bare && this.#found('DATA_BARE_LINE_ENDING', 'bare CR in message')) return null;
          (fixes ??= []).push(i);
        }
      } else if (byte === LF) {
        if (!this.#bare && this.#found('DATA_BARE_LINE_ENDING', 'bare LF in message')) return null;
        (fixes ??= []).push(i);
      }
    }
    if (!fixes) return chunk;
    const parts: Buffer[] = [];
    let from = 0;
    for (const at of fixes) {
      parts.push(chunk.subarray(from, at), Buffer.from('\r\n'));
      from = at + 1;
    }
    parts.push(chunk.subarray(from));
    return Buffer.concat(parts);
  }
}

/** The error code for the Decision that stopped the stream (the log and tests read codes). */
function codeOf(decision: Decision): Finding | undefined {
  if (decision.reason === 'data.size_exceeded') return 'DATA_TOO_LARGE';
  if (decision.reason === 'data.bare_line_ending') return 'DATA_BARE_LINE_ENDING';
  if (decision.rule === 'nul-bytes') return 'DATA_NUL';
  if (decision.rule === 'line-length') return 'DATA_LINE_TOO_LONG';
  return undefined;
}

// A Transform between smtp-server's DATA stream and the spool. It prepends
// our Received: header, enforces the size limit on the bytes actually sent, and
// refuses (or repairs) bare LF / bare CR line endings: those are how SMTP
// smuggling splits one message into two at a less strict upstream
// (<LF>.<LF>, <LF>.<CR><LF>, <CR>.<CR><LF>).
import { Transform, type TransformCallback } from 'node:stream';

export type BareLineEndingMode = 'reject' | 'normalize';

export class DataRefusedError extends Error {
  readonly code: 'DATA_BARE_LINE_ENDING' | 'DATA_TOO_LARGE' | 'DATA_NUL' | 'DATA_LINE_TOO_LONG';
  readonly temporary = false;
  constructor(code: DataRefusedError['code'], message: string) {
    super(message);
    this.name = 'DataRefusedError';
    this.code = code;
  }
}

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

  constructor(options: { header: string; maxBytes: number; bareLineEndings: BareLineEndingMode; maxLineLength?: number }) {
    super();
    this.#maxLineLength = options.maxLineLength ?? 1000;
    this.#header = Buffer.from(options.header, 'latin1');
    this.#maxBytes = options.maxBytes;
    this.#mode = options.bareLineEndings;
  }

  /** The refusal found in the data, if any (set before the stream errors). */
  get refused(): DataRefusedError | null {
    return this.#refused;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#refused) return callback();
    this.#bytes += chunk.length;
    if (this.#bytes > this.#maxBytes) {
      return this.#refuse(new DataRefusedError('DATA_TOO_LARGE', 'message exceeds the size limit'), callback);
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
      if (this.#mode === 'reject') {
        return this.#refuse(new DataRefusedError('DATA_BARE_LINE_ENDING', 'bare CR in message'), callback);
      }
      this.push(Buffer.from('\r\n'));
    }
    callback();
  }

  #refuse(error: DataRefusedError, callback: TransformCallback): void {
    this.#refused = error;
    callback(error);
  }

  /** Returns the bytes to pass on, or null when refusing. Clean chunks pass without a copy. */
  #scan(chunk: Buffer): Buffer | null {
    if (chunk.indexOf(0) !== -1) {
      this.#refused = new DataRefusedError('DATA_NUL', 'NUL character in message');
      return null;
    }
    if (!this.#checkLineLengths(chunk)) {
      this.#refused = new DataRefusedError('DATA_LINE_TOO_LONG', `message line longer than ${this.#maxLineLength} octets`);
      return null;
    }
    return this.#mode === 'reject' ? this.#scanStrict(chunk) : this.#scanNormalizing(chunk);
  }

  #checkLineLengths(chunk: Buffer): boolean {
    let lineStart = 0;
    let lf = chunk.indexOf(LF);
    while (lf !== -1) {
      if (this.#lineLength + (lf + 1 - lineStart) > this.#maxLineLength) return false;
      this.#lineLength = 0;
      lineStart = lf + 1;
      lf = chunk.indexOf(LF, lineStart);
    }
    this.#lineLength += chunk.length - lineStart;
    // An unfinished line still needs at least its LF.
    return this.#lineLength <= this.#maxLineLength - 1;
  }

  /** Reject mode: every LF must follow a CR and every CR precede an LF. indexOf keeps it fast. */
  #scanStrict(chunk: Buffer): Buffer | null {
    const bare = (what: string): null => {
      this.#refused = new DataRefusedError('DATA_BARE_LINE_ENDING', `bare ${what} in message`);
      return null;
    };
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
      } else if (this.#mode === 'reject') {
        this.#refused = new DataRefusedError('DATA_BARE_LINE_ENDING', 'bare CR in message');
        return null;
      } else {
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
        } else if (this.#mode === 'reject') {
          this.#refused = new DataRefusedError('DATA_BARE_LINE_ENDING', 'bare CR in message');
          return null;
        } else {
          (fixes ??= []).push(i);
        }
      } else if (byte === LF) {
        if (this.#mode === 'reject') {
          this.#refused = new DataRefusedError('DATA_BARE_LINE_ENDING', 'bare LF in message');
          return null;
        }
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

// A Transform between smtp-server's DATA stream and the spool. It prepends
// our Received: header, enforces the size limit on the bytes actually sent, and
// refuses (or repairs) bare LF / bare CR line endings: those are how SMTP
// smuggling splits one message into two at a less strict upstream
// (<LF>.<LF>, <LF>.<CR><LF>, <CR>.<CR><LF>).
import { Transform, type TransformCallback } from 'node:stream';

export type BareLineEndingMode = 'reject' | 'normalize';

export class DataRefusedError extends Error {
  readonly code: 'DATA_BARE_LINE_ENDING' | 'DATA_TOO_LARGE';
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
  #header: Buffer | null;
  #bytes = 0;
  /** The previous chunk ended in CR whose LF may start the next chunk. */
  #pendingCr = false;
  #refused: DataRefusedError | null = null;

  constructor(options: { header: string; maxBytes: number; bareLineEndings: BareLineEndingMode }) {
    super();
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

  /** Returns the bytes to pass on, or null when refusing. Fast path: no copy when clean. */
  #scan(chunk: Buffer): Buffer | null {
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

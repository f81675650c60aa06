// PURE. Reads Postfix policy delegation requests (SMTPD_POLICY_README) off a
// byte stream: `name=value` lines, each ending in LF, a request ending with an
// empty line; a client may send several requests on one connection, and may
// send the next before our answer (pipelining). Bytes arrive in arbitrary
// chunks, so the reader keeps what it has not yet seen the end of.
//
// What closes the connection (the caller logs it once): a line longer than
// maxLineBytes, a request with more than maxAttributes lines, a line without
// "=" (not a policy client: garbage), a NUL byte. Unknown names are kept (the
// caller ignores them: Postfix adds attributes over time); a repeated name
// keeps its first value.

export type PolicyRequest = ReadonlyMap<string, string>;

export type ReadProblem = 'line_too_long' | 'too_many_attributes' | 'not_an_attribute' | 'nul_byte';

export interface ReadResult {
  readonly requests: PolicyRequest[];
  /** Set when the stream is not a policy client's: stop reading and close. */
  readonly problem?: ReadProblem;
}

export interface ReaderLimits {
  readonly maxLineBytes: number;
  readonly maxAttributes: number;
}

export const DEFAULT_READER_LIMITS: ReaderLimits = { maxLineBytes: 8192, maxAttributes: 200 };

export class AttributeReader {
  readonly #limits: ReaderLimits;
  /** The incomplete line so far (bytes after the last LF). */
  #partial: Buffer[] = [];
  #partialBytes = 0;
  #current = new Map<string, string>();
  #lines = 0;
  #failed = false;

  constructor(limits: ReaderLimits = DEFAULT_READER_LIMITS) {
    this.#limits = limits;
  }

  feed(chunk: Buffer): ReadResult {
    const requests: PolicyRequest[] = [];
    if (this.#failed) return { requests, problem: 'not_an_attribute' };
    let start = 0;
    for (;;) {
      const lf = chunk.indexOf(0x0a, start);
      if (lf === -1) break;
      const piece = chunk.subarray(start, lf);
      start = lf + 1;
      let line: Buffer = piece;
      if (this.#partialBytes > 0) {
        line = Buffer.concat([...this.#partial, piece]);
        this.#partial = [];
        this.#partialBytes = 0;
      }
      const problem = this.#line(line, requests);
      if (problem) return this.#fail(requests, problem);
    }
    const rest = chunk.subarray(start);
    if (rest.length > 0) {
      this.#partialBytes += rest.length;
      // Over the limit before its LF arrives: no need to wait for the rest.
      if (this.#partialBytes > this.#limits.maxLineBytes) return this.#fail(requests, 'line_too_long');
      this.#partial.push(Buffer.from(rest));
    }
    return { requests };
  }

  #fail(requests: PolicyRequest[], problem: ReadProblem): ReadResult {
    this.#failed = true;
    this.#partial = [];
    this.#partialBytes = 0;
    return { requests, problem };
  }

  #line(raw: Buffer, requests: PolicyRequest[]): ReadProblem | undefined {
    // Postfix sends LF; tolerate CRLF from hand-written clients (telnet, nc -C).
    const bytes = raw.length > 0 && raw[raw.length - 1] === 0x0d ? raw.subarray(0, raw.length - 1) : raw;
    if (bytes.length > this.#limits.maxLineBytes) return 'line_too_long';
    if (bytes.length === 0) {
      // The empty line ends a request; an empty line with nothing before it is ignored.
      if (this.#lines > 0) requests.push(this.#current);
      this.#current = new Map();
      this.#lines = 0;
      return undefined;
    }
    if (bytes.includes(0)) return 'nul_byte';
    const text = bytes.toString('utf8');
    const eq = text.indexOf('=');
    if (eq <= 0) return 'not_an_attribute';
    this.#lines++;
    if (this.#lines > this.#limits.maxAttributes) return 'too_many_attributes';
    const name = text.slice(0, eq);
    if (!this.#current.has(name)) this.#current.set(name, text.slice(eq + 1));
    return undefined;
  }
}

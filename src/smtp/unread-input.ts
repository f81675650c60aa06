// What a client has sent that no command has been read from yet: the bytes
// handed to smtp-server's parser, less each command line it dispatched and
// each message it read after DATA. RFC 2920 lets a client send a group of
// commands without waiting for the replies, but some commands must end a
// group (EHLO, DATA, ...); whether more input followed such a command is what
// Postfix's smtpd_forbid_unauth_pipelining checks, and smtp-server's parser
// does not tell. Pure bookkeeping, no I/O: relay-smtp-server.ts feeds it.
const DOT_CRLF = Buffer.from('.\r\n');
/** The end of a message (smtp-server's parser knows no other). */
const END_OF_DATA = Buffer.from('\r\n.\r\n');
const EMPTY = Buffer.alloc(0);

export class UnreadInput {
  #unread: Buffer = EMPTY;
  /** Between DATA and the end of the message: #unread keeps only the last 4 bytes. */
  #inMessage = false;
  #atMessageStart = false;
  /** false once a command did not match the bytes (then nothing is claimed until reset). */
  #known = true;

  /** Bytes handed to the parser. */
  received(chunk: Buffer | string): void {
    if (!this.#known) return;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    this.#unread = this.#unread.length === 0 ? bytes : Buffer.concat([this.#unread, bytes]);
    if (this.#inMessage) this.#skipMessage();
  }

  /** The parser dispatched this command line (without its line ending). */
  commandRead(command: Buffer): void {
    if (!this.#known) return;
    const unread = this.#unread;
    const n = command.length;
    if (this.#inMessage || unread.length < n || !unread.subarray(0, n).equals(command)) {
      this.#lose();
      return;
    }
    let end = n;
    if (unread[end] === 0x0d && unread[end + 1] === 0x0a) end += 2;
    else if (unread[end] === 0x0a) end += 1;
    // All read (an idle session, the usual case): drop the chunk rather than
    // keep it alive behind an empty view (~0.2 KiB per idle connection).
    this.#unread = end === unread.length ? EMPTY : unread.subarray(end);
  }

  /** DATA was accepted: what follows is a message up to its final dot. */
  messageStarted(): void {
    if (!this.#known) return;
    this.#inMessage = true;
    this.#atMessageStart = true;
    this.#skipMessage();
  }

  /** Input is waiting after the last command read; false when that cannot be told. */
  get pending(): boolean {
    return this.#known && !this.#inMessage && this.#unread.length > 0;
  }

  /** The unread input (after the last command read), as latin1 text. */
  get text(): string {
    return this.#known ? this.#unread.toString('latin1') : '';
  }

  /** A new parser (after STARTTLS) starts from nothing. */
  reset(): void {
    this.#unread = EMPTY;
    this.#inMessage = false;
    this.#atMessageStart = false;
    this.#known = true;
  }

  #lose(): void {
    this.#known = false;
    this.#unread = EMPTY;
  }

  #skipMessage(): void {
    const unread = this.#unread;
    if (this.#atMessageStart) {
      // A message may be empty: its first line is the final dot.
      if (unread.length < DOT_CRLF.length && DOT_CRLF.subarray(0, unread.length).equals(unread)) return;
      this.#atMessageStart = false;
      if (unread.subarray(0, DOT_CRLF.length).equals(DOT_CRLF)) return this.#messageEnded(DOT_CRLF.length);
    }
    const end = unread.indexOf(END_OF_DATA);
    if (end >= 0) return this.#messageEnded(end + END_OF_DATA.length);
    // The end may straddle two chunks: keep what could be its start (a copy, not the chunk).
    this.#unread = Buffer.from(unread.subarray(Math.max(0, unread.length - (END_OF_DATA.length - 1))));
  }

  #messageEnded(at: number): void {
    this.#inMessage = false;
    this.#unread = this.#unread.subarray(at);
  }
}

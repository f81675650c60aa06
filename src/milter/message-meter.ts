// PURE. Measures a message as a milter receives it (HEADER packets, then BODY
// chunks) into the same end-of-data facts the front door's DataGuard measures
// from its DATA stream (src/smtp/data-guard.ts): octets, a bare CR or bare LF,
// a NUL octet, the longest line (octets including its CRLF).
//
// Headers come as name and value (with its leading space: SMFIP_HDR_LEADSPC);
// each is measured as the line "Name:value" CRLF, the line breaks of a folded
// value as CRLF (the MTA's own representation of a line break, not the
// client's: a bare line ending cannot be told from it). The empty line after
// the headers counts 2 octets. Body chunks are measured as they are: Postfix
// sends every body line ending as CRLF (its smtpd ends a line at a bare LF too,
// so a bare LF never reaches a milter from Postfix; a bare CR inside a line
// does). The size therefore includes the headers the MTA itself added before
// the milter saw the message (Postfix: its Received: line).
import type { MessageFacts } from '../policy/facts.ts';

const CR = 0x0d;
const LF = 0x0a;

export class MessageMeter {
  #size = 0;
  #bare = false;
  #nul = false;
  #longest = 0;
  #lineLength = 0;
  /** The last byte measured was CR (its LF may start the next chunk). */
  #pendingCr = false;
  #lastWasCr = false;
  #bodyStarted = false;

  get facts(): MessageFacts {
    // A message ending in a lone CR: bare (as the front door judges it at its end).
    const bare = this.#bare || this.#pendingCr;
    return { size: this.#size, bareLineEnding: bare, nul: this.#nul, longestLine: this.#longest };
  }

  header(name: string, value: string): void {
    const text = `${name}:${value.replace(/\r?\n/g, '\r\n')}\r\n`;
    this.#measure(Buffer.from(text, 'utf8'));
  }

  /** A body chunk (the empty line ending the headers is counted before the first one). */
  body(chunk: Buffer): void {
    if (!this.#bodyStarted) {
      this.#bodyStarted = true;
      this.#measure(Buffer.from('\r\n'));
    }
    this.#measure(chunk);
  }

  /** End of message: a message without any body still has the empty line after its headers. */
  end(): MessageFacts {
    if (!this.#bodyStarted) this.body(Buffer.alloc(0));
    return this.facts;
  }

  #measure(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#size += chunk.length;
    if (!this.#nul && chunk.indexOf(0) !== -1) this.#nul = true;
    if (!this.#bare) this.#scanLineEndings(chunk);
    let lineStart = 0;
    for (let lf = chunk.indexOf(LF); lf !== -1; lf = chunk.indexOf(LF, lineStart)) {
      const length = this.#lineLength + (lf + 1 - lineStart);
      if (length > this.#longest) this.#longest = length;
      this.#lineLength = 0;
      lineStart = lf + 1;
    }
    this.#lineLength += chunk.length - lineStart;
    if (this.#lineLength + 1 > this.#longest) this.#longest = this.#lineLength + 1;
  }

  /** Every LF must follow a CR and every CR precede an LF. */
  #scanLineEndings(chunk: Buffer): void {
    if (this.#pendingCr) {
      this.#pendingCr = false;
      if (chunk[0] !== LF) {
        this.#bare = true;
        return;
      }
    }
    for (let lf = chunk.indexOf(LF); lf !== -1; lf = chunk.indexOf(LF, lf + 1)) {
      if (lf === 0 ? !this.#lastWasCr : chunk[lf - 1] !== CR) {
        this.#bare = true;
        return;
      }
    }
    for (let cr = chunk.indexOf(CR); cr !== -1; cr = chunk.indexOf(CR, cr + 1)) {
      if (cr + 1 === chunk.length) this.#pendingCr = true;
      else if (chunk[cr + 1] !== LF) {
        this.#bare = true;
        return;
      }
    }
    this.#lastWasCr = chunk[chunk.length - 1] === CR;
  }
}

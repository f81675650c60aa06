// PURE. RFC 6152 section 3: an 8-bit message for a next hop that does not
// offer 8BITMIME is converted to 7 bits, like Postfix's smtp client does:
// every leaf MIME part whose body carries bytes >= 0x80 is re-encoded as
// quoted-printable (libqp) and relabelled; multipart and message/rfc822
// containers are walked and relabelled 7bit. What cannot be converted
// without changing what the sender signed or sent is refused (5.6.3):
// 8-bit inside multipart/signed or multipart/encrypted, message/global and
// other message/* types, 8-bit headers of an encapsulated message, 8-bit
// bytes in a part that already claims base64 or quoted-printable, a
// multipart without its boundary. 8-bit bytes in the top-level header
// fields are left as they are (Postfix converts bodies only; RFC 2047
// encoding of structured fields would change addresses): the result says so
// and the caller logs it. Any conversion breaks a DKIM body hash.
// Bytes are handled as latin1 strings: one char per byte, both ways.
import { encode, wrap } from 'libqp';
import libmime from 'libmime';

export type Downgrade =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'converted'; readonly message: Buffer; readonly parts: number; readonly eightBitHeaders: boolean }
  | { readonly kind: 'impossible'; readonly reason: string };

const EIGHT_BIT = /[\x80-\xff]/;

export function hasEightBit(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) if ((bytes[i] as number) >= 0x80) return true;
  return false;
}

class Impossible extends Error {}

interface Converted {
  readonly text: string;
  readonly parts: number;
}

interface Entity {
  readonly fields: string[];
  /** The blank line was there (a body follows, maybe empty). */
  readonly hasBody: boolean;
  readonly body: string;
}

function splitEntity(text: string): Entity {
  if (text.startsWith('\r\n')) return { fields: [], hasBody: true, body: text.slice(2) };
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const fields: string[] = [];
  for (const line of head.split('\r\n')) {
    if (/^[ \t]/.test(line) && fields.length > 0) fields[fields.length - 1] += `\r\n${line}`;
    else fields.push(line);
  }
  return { fields, hasBody: end >= 0, body: end < 0 ? '' : text.slice(end + 4) };
}

function joinEntity(e: Entity): string {
  return e.hasBody ? `${e.fields.join('\r\n')}\r\n\r\n${e.body}` : e.fields.join('\r\n');
}

function fieldValue(fields: readonly string[], name: string): string | undefined {
  const lower = `${name.toLowerCase()}:`;
  const found = fields.find((f) => f.toLowerCase().startsWith(lower));
  return found === undefined ? undefined : found.slice(lower.length).replace(/\r\n[ \t]/g, ' ').trim();
}

function withField(fields: readonly string[], name: string, value: string): string[] {
  const lower = `${name.toLowerCase()}:`;
  return [...fields.filter((f) => !f.toLowerCase().startsWith(lower)), `${name}: ${value}`];
}

function convertEntity(text: string, defaultType: string, top: boolean): Converted {
  if (!EIGHT_BIT.test(text)) return { text, parts: 0 };
  const entity = splitEntity(text);
  if (!top && entity.fields.some((f) => EIGHT_BIT.test(f))) throw new Impossible('8-bit header fields inside a MIME part or an attached message');
  if (!EIGHT_BIT.test(entity.body)) return { text, parts: 0 };
  const contentType = fieldValue(entity.fields, 'Content-Type');
  const parsed = contentType ? libmime.parseHeaderValue(contentType) : undefined;
  const type = (parsed?.value || defaultType).toLowerCase();
  const cte = (fieldValue(entity.fields, 'Content-Transfer-Encoding') ?? '7bit').toLowerCase();
  if (cte === 'base64' || cte === 'quoted-printable') throw new Impossible(`8-bit bytes in a part labelled ${cte}`);
  if (type.startsWith('multipart/')) {
    if (type === 'multipart/signed' || type === 'multipart/encrypted') throw new Impossible(`8-bit data inside ${type} (converting it would break the signature)`);
    const boundary = parsed?.params.boundary;
    if (!boundary) throw new Impossible('a multipart without a boundary');
    const converted = convertMultipart(entity.body, boundary, type === 'multipart/digest' ? 'message/rfc822' : 'text/plain');
    const fields = cte === '7bit' ? entity.fields : withField(entity.fields, 'Content-Transfer-Encoding', '7bit');
    return { text: joinEntity({ ...entity, fields, body: converted.text }), parts: converted.parts };
  }
  if (type === 'message/rfc822') {
    const inner = convertEntity(entity.body, 'text/plain', false);
    const fields = cte === '7bit' ? entity.fields : withField(entity.fields, 'Content-Transfer-Encoding', '7bit');
    return { text: joinEntity({ ...entity, fields, body: inner.text }), parts: inner.parts };
  }
  if (type.startsWith('message/')) throw new Impossible(`8-bit data in ${type}`);
  let fields = withField(entity.fields, 'Content-Transfer-Encoding', 'quoted-printable');
  if (top && fieldValue(entity.fields, 'MIME-Version') === undefined) {
    // A non-MIME message: say what the body now is. Its charset is a guess the bytes allow.
    const bytes = Buffer.from(entity.body, 'latin1');
    const charset = Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes) ? 'utf-8' : 'unknown-8bit';
    fields = [...fields.filter((f) => !/^mime-version:/i.test(f)), 'MIME-Version: 1.0'];
    if (contentType === undefined) fields = withField(fields, 'Content-Type', `text/plain; charset=${charset}`);
  }
  const body = wrap(encode(Buffer.from(entity.body, 'latin1')), 76);
  return { text: joinEntity({ ...entity, fields, body }), parts: 1 };
}

function isDelimiter(line: string, dash: string): 'open' | 'close' | undefined {
  if (!line.startsWith(dash)) return undefined;
  const rest = line.slice(dash.length);
  if (/^[ \t]*$/.test(rest)) return 'open';
  if (/^--[ \t]*$/.test(rest)) return 'close';
  return undefined;
}

function convertMultipart(body: string, boundary: string, childType: string): Converted {
  const dash = `--${boundary}`;
  const lines = body.split('\r\n');
  const out: string[] = [];
  let part: string[] | undefined;
  let parts = 0;
  let closed = false;
  const flush = () => {
    if (!part) return;
    const converted = convertEntity(part.join('\r\n'), childType, false);
    parts += converted.parts;
    out.push(converted.text);
  };
  for (const line of lines) {
    const delimiter = closed ? undefined : isDelimiter(line, dash);
    if (delimiter) {
      flush();
      out.push(line);
      part = delimiter === 'open' ? [] : undefined;
      if (delimiter === 'close') closed = true;
    } else if (part) {
      part.push(line);
    } else {
      // Preamble and epilogue are not shown to anyone (RFC 2046 5.1.1): 8-bit bytes there become "?".
      out.push(line.replace(/[\x80-\xff]/g, '?'));
    }
  }
  flush();
  return { text: out.join('\r\n'), parts };
}

/** The message as stored (CRLF lines), made 7-bit for a next hop without 8BITMIME. */
export function downgradeToSevenBit(message: Buffer): Downgrade {
  if (!hasEightBit(message)) return { kind: 'unchanged' };
  const text = message.toString('latin1');
  try {
    const { text: out, parts } = convertEntity(text, 'text/plain', true);
    const eightBitHeaders = splitEntity(out).fields.some((f) => EIGHT_BIT.test(f));
    if (parts === 0 && !eightBitHeaders) return { kind: 'unchanged' };
    return { kind: 'converted', message: Buffer.from(out, 'latin1'), parts, eightBitHeaders };
  } catch (error) {
    if (error instanceof Impossible) return { kind: 'impossible', reason: error.message };
    throw error;
  }
}

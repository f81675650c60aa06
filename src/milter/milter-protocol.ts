// PURE. The subset of the Sendmail milter protocol (version 6, as Postfix's
// milter8 client speaks it) that relayguard needs: packet framing, the
// commands an MTA sends, the replies we send. No npm library was found to
// build on (the names looked up, milter, node-milter and milterjs, are not on
// the registry), so this is the small subset, tested byte for byte
// (test/milter) and against a real Postfix (test/interop).
//
// A packet is a 4-byte big-endian length, then that many bytes: one command
// byte and its data. Strings are NUL-terminated. Bytes arrive in arbitrary
// chunks; the reader keeps what it has not yet seen the end of.
//
// What closes the connection (the caller logs it once): a length of 0 or past
// maxPacketBytes (checked from the 4 length bytes alone, before the body is
// buffered), a command byte we do not know, a command whose data does not
// parse (a CONNECT without its NULs, a HEADER without two strings).

/** Commands, MTA to milter (the command byte). */
export const Command = {
  ABORT: 0x41, // 'A'
  BODY: 0x42, // 'B'
  CONNECT: 0x43, // 'C'
  MACRO: 0x44, // 'D'
  BODYEOB: 0x45, // 'E'
  HELO: 0x48, // 'H'
  QUIT_NC: 0x4b, // 'K' (v6: quit this SMTP session, another one follows on this connection)
  HEADER: 0x4c, // 'L'
  MAIL: 0x4d, // 'M'
  EOH: 0x4e, // 'N'
  OPTNEG: 0x4f, // 'O'
  QUIT: 0x51, // 'Q'
  RCPT: 0x52, // 'R'
  DATA: 0x54, // 'T'
  UNKNOWN: 0x55, // 'U'
} as const;

/** Replies, milter to MTA. */
export const Reply = {
  ADDHEADER: 0x68, // 'h'
  ACCEPT: 0x61, // 'a'
  CONTINUE: 0x63, // 'c'
  REJECT: 0x72, // 'r'
  TEMPFAIL: 0x74, // 't'
  REPLYCODE: 0x79, // 'y'
  OPTNEG: 0x4f, // 'O'
} as const;

/** Actions (SMFIF_*): what the milter may change. */
export const Action = { ADDHDRS: 0x01 } as const;

/** Protocol flags (SMFIP_*): callbacks the MTA need not send (NO*), or need not wait for our reply to (NR_*). */
export const Protocol = {
  NOCONNECT: 0x1,
  NOHELO: 0x2,
  NOMAIL: 0x4,
  NORCPT: 0x8,
  NOBODY: 0x10,
  NOHDRS: 0x20,
  NOEOH: 0x40,
  NR_HDR: 0x80,
  NOUNKNOWN: 0x100,
  NODATA: 0x200,
  SKIP: 0x400,
  RCPT_REJ: 0x800,
  NR_CONN: 0x1000,
  NR_HELO: 0x2000,
  NR_MAIL: 0x4000,
  NR_RCPT: 0x8000,
  NR_DATA: 0x10000,
  NR_UNKN: 0x20000,
  NR_EOH: 0x40000,
  NR_BODY: 0x80000,
  HDR_LEADSPC: 0x100000,
} as const;

export const MILTER_VERSION = 6;

/**
 * The protocol flags relayguard asks for, of those the MTA offers: no EOH and
 * UNKNOWN callbacks (nothing to judge there), no reply wanted to a HEADER
 * (headers are only measured), header values with their leading space (so the
 * measured size is the header as sent). Every other callback is wanted and
 * answered: CONNECT/HELO/MAIL/RCPT/DATA run the session driver, BODY is
 * measured and may be refused early (as the front door stops an oversized
 * message), EOB runs the end-of-data rules.
 */
export const WANTED_PROTOCOL = Protocol.NOEOH | Protocol.NOUNKNOWN | Protocol.NR_HDR | Protocol.NR_EOH | Protocol.NR_UNKN | Protocol.HDR_LEADSPC;

export interface Packet {
  readonly command: number;
  readonly data: Buffer;
}

export type FramingProblem = 'empty_packet' | 'packet_too_large';

export interface FramingResult {
  readonly packets: Packet[];
  readonly problem?: FramingProblem;
}

/** Postfix sends body chunks of at most 65535 bytes (MILTER_CHUNK_SIZE) unless a larger size was negotiated; headers can be longer (header_size_limit, 102400 by default). */
export const DEFAULT_MAX_PACKET_BYTES = 256 * 1024;

export class PacketReader {
  readonly #max: number;
  #buffered: Buffer[] = [];
  #bufferedBytes = 0;
  #failed = false;

  constructor(maxPacketBytes = DEFAULT_MAX_PACKET_BYTES) {
    this.#max = maxPacketBytes;
  }

  /** A packet has started and not yet ended (for the per-packet time budget). */
  get midPacket(): boolean {
    return this.#bufferedBytes > 0;
  }

  feed(chunk: Buffer): FramingResult {
    const packets: Packet[] = [];
    if (this.#failed) return { packets, problem: 'packet_too_large' };
    this.#buffered.push(chunk);
    this.#bufferedBytes += chunk.length;
    let all = this.#buffered.length === 1 ? chunk : Buffer.concat(this.#buffered, this.#bufferedBytes);
    let offset = 0;
    while (all.length - offset >= 4) {
      const length = all.readUInt32BE(offset);
      if (length === 0) return this.#fail(packets, 'empty_packet');
      if (length > this.#max) return this.#fail(packets, 'packet_too_large');
      if (all.length - offset - 4 < length) break;
      // A copy: the packet outlives this chunk (a body chunk waits for its turn).
      packets.push({ command: all[offset + 4] as number, data: Buffer.from(all.subarray(offset + 5, offset + 4 + length)) });
      offset += 4 + length;
    }
    all = all.subarray(offset);
    this.#buffered = all.length > 0 ? [all] : [];
    this.#bufferedBytes = all.length;
    return { packets };
  }

  #fail(packets: Packet[], problem: FramingProblem): FramingResult {
    this.#failed = true;
    this.#buffered = [];
    this.#bufferedBytes = 0;
    return { packets, problem };
  }
}

/** One packet on the wire. */
export function packet(command: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(data.length + 1, 0);
  head[4] = command;
  return Buffer.concat([head, data]);
}

/** NUL-terminated strings, concatenated. */
export function cstrings(...values: readonly string[]): Buffer {
  return Buffer.concat(values.flatMap((value) => [Buffer.from(value, 'utf8'), Buffer.alloc(1)]));
}

/** The NUL-terminated strings of a packet's data (a trailing piece without its NUL is dropped). */
export function readStrings(data: Buffer): string[] {
  const out: string[] = [];
  let start = 0;
  for (let nul = data.indexOf(0, start); nul !== -1; nul = data.indexOf(0, start)) {
    out.push(data.subarray(start, nul).toString('utf8'));
    start = nul + 1;
  }
  return out;
}

export interface OptNeg {
  readonly version: number;
  readonly actions: number;
  readonly protocol: number;
}

export function parseOptNeg(data: Buffer): OptNeg | undefined {
  if (data.length < 12) return undefined;
  return { version: data.readUInt32BE(0), actions: data.readUInt32BE(4), protocol: data.readUInt32BE(8) };
}

export function optNegReply(reply: OptNeg): Buffer {
  const data = Buffer.alloc(12);
  data.writeUInt32BE(reply.version, 0);
  data.writeUInt32BE(reply.actions, 4);
  data.writeUInt32BE(reply.protocol, 8);
  return packet(Reply.OPTNEG, data);
}

export interface ConnectInfo {
  readonly hostname: string;
  /** '4', '6', 'L' (Unix socket) or 'U' (unknown). */
  readonly family: string;
  readonly port: number;
  readonly address: string;
}

export function parseConnect(data: Buffer): ConnectInfo | undefined {
  const nul = data.indexOf(0);
  if (nul === -1 || nul + 1 >= data.length) return undefined;
  const hostname = data.subarray(0, nul).toString('utf8');
  const family = String.fromCharCode(data[nul + 1] as number);
  if (family === 'U') return { hostname, family, port: 0, address: '' };
  if (data.length < nul + 4) return undefined;
  const port = data.readUInt16BE(nul + 2);
  const rest = data.subarray(nul + 4);
  const end = rest.indexOf(0);
  if (end === -1) return undefined;
  return { hostname, family, port, address: rest.subarray(0, end).toString('utf8') };
}

/** A MACRO packet: the command it belongs to, and its name/value pairs ("{auth_authen}", "i", "j"...). */
export function parseMacros(data: Buffer): { readonly command: number; readonly macros: Map<string, string> } | undefined {
  if (data.length < 1) return undefined;
  const strings = readStrings(data.subarray(1));
  const macros = new Map<string, string>();
  for (let i = 0; i + 1 < strings.length; i += 2) macros.set(strings[i] as string, strings[i + 1] as string);
  return { command: data[0] as number, macros };
}

/** "550 5.7.1 text" as SMFIR_REPLYCODE (one line, no CR/LF/NUL; a % would be read as a format character by Sendmail, so doubled). */
export function replyCode(code: number, enhanced: string, text: string): Buffer {
  const line = `${code} ${enhanced} ${text.replace(/[\r\n\0]+/g, ' ').replace(/%/g, '%%')}`;
  return packet(Reply.REPLYCODE, cstrings(line));
}

export function addHeader(name: string, value: string): Buffer {
  return packet(Reply.ADDHEADER, cstrings(name, value.replace(/[\r\n\0]+/g, ' ')));
}

export const CONTINUE = packet(Reply.CONTINUE);
export const ACCEPT = packet(Reply.ACCEPT);
export const TEMPFAIL = packet(Reply.TEMPFAIL);

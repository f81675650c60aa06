// PURE. Parses a HAProxy PROXY protocol header, version 1 (text) or 2
// (binary), from the first bytes of a connection. Only called for peers listed
// in a listener's proxy_protocol_from: the header is unauthenticated, so from
// anyone else it would let a client choose the address policy sees.
import net from 'node:net';

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_MAX = 107; // "PROXY " ... CRLF, per the spec's worst case
const V2_MAX_PAYLOAD = 4096;

export type ProxyParse =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'invalid'; readonly problem: string }
  | {
      readonly kind: 'ok';
      readonly version: 1 | 2;
      /** Absent for LOCAL (health checks) and UNKNOWN: use the socket's own address. */
      readonly source?: { readonly address: string; readonly port: number };
      readonly headerLength: number;
    };

export function parseProxyHeader(buffer: Buffer): ProxyParse {
  if (buffer.length === 0) return { kind: 'incomplete' };
  const signatureBytes = Math.min(buffer.length, V2_SIGNATURE.length);
  if (buffer.subarray(0, signatureBytes).equals(V2_SIGNATURE.subarray(0, signatureBytes))) {
    return buffer.length < 16 ? { kind: 'incomplete' } : parseV2(buffer);
  }
  const prefix = Buffer.from('PROXY ');
  const prefixBytes = Math.min(buffer.length, prefix.length);
  if (!buffer.subarray(0, prefixBytes).equals(prefix.subarray(0, prefixBytes))) {
    return { kind: 'invalid', problem: 'no PROXY header' };
  }
  return parseV1(buffer);
}

function parseV1(buffer: Buffer): ProxyParse {
  const end = buffer.indexOf('\r\n');
  if (end < 0) return buffer.length > V1_MAX ? { kind: 'invalid', problem: 'PROXY v1 line too long' } : { kind: 'incomplete' };
  if (end + 2 > V1_MAX) return { kind: 'invalid', problem: 'PROXY v1 line too long' };
  const parts = buffer.subarray(0, end).toString('latin1').split(' ');
  const headerLength = end + 2;
  if (parts[1] === 'UNKNOWN') return { kind: 'ok', version: 1, headerLength };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) {
    return { kind: 'invalid', problem: 'malformed PROXY v1 line' };
  }
  const [, family, source, , sourcePort, destinationPort] = parts as [string, string, string, string, string, string];
  const expected = family === 'TCP4' ? 4 : 6;
  if (net.isIP(source) !== expected || !isPort(sourcePort) || !isPort(destinationPort)) {
    return { kind: 'invalid', problem: 'malformed PROXY v1 address' };
  }
  return { kind: 'ok', version: 1, source: { address: source, port: Number(sourcePort) }, headerLength };
}

function isPort(text: string): boolean {
  return /^\d{1,5}$/.test(text) && Number(text) <= 65535;
}

function parseV2(buffer: Buffer): ProxyParse {
  const versionCommand = buffer[12] as number;
  if (versionCommand >> 4 !== 2) return { kind: 'invalid', problem: 'unsupported PROXY version' };
  const command = versionCommand & 0x0f;
  const family = buffer[13] as number;
  const length = buffer.readUInt16BE(14);
  if (length > V2_MAX_PAYLOAD) return { kind: 'invalid', problem: 'PROXY v2 header too long' };
  const headerLength = 16 + length;
  if (buffer.length < headerLength) return { kind: 'incomplete' };
  if (command === 0x0) return { kind: 'ok', version: 2, headerLength }; // LOCAL
  if (command !== 0x1) return { kind: 'invalid', problem: 'unknown PROXY v2 command' };
  const payload = buffer.subarray(16, headerLength);
  if (family === 0x11 && length >= 12) {
    const address = `${payload[0]}.${payload[1]}.${payload[2]}.${payload[3]}`;
    return { kind: 'ok', version: 2, source: { address, port: payload.readUInt16BE(8) }, headerLength };
  }
  if (family === 0x21 && length >= 36) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(payload.readUInt16BE(i).toString(16));
    return { kind: 'ok', version: 2, source: { address: groups.join(':'), port: payload.readUInt16BE(32) }, headerLength };
  }
  // UNSPEC or UNIX sockets: no usable IP, keep the socket's own address.
  if ((family & 0xf0) === 0x00 || (family & 0xf0) === 0x30) return { kind: 'ok', version: 2, headerLength };
  return { kind: 'invalid', problem: 'malformed PROXY v2 address block' };
}

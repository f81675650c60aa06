// PURE. The password hash strings of users.toml:
//   $scrypt$ln=15,r=8,p=1$<salt, base64>$<key, base64>
// (the PHC string format: unpadded standard base64). Parsed when the file is
// loaded, so a bad hash is a file:line error; hashing and verifying are
// auth/password-hash.ts.
export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  readonly ln: number;
  /** Block size. */
  readonly r: number;
  /** Parallelism. */
  readonly p: number;
}

/** ~65 ms and 32 MiB per hash on a small 2-core VM (bench/auth-timing.ts). */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { ln: 15, r: 8, p: 1 };

export interface ParsedHash {
  readonly params: ScryptParams;
  readonly salt: Buffer;
  readonly key: Buffer;
}

export const SALT_BYTES = 16;
export const KEY_BYTES = 32;
// Sanity bounds: low enough to refuse a typo that would need gigabytes per
// login, high enough for any sensible future cost.
const MIN_LN = 10;
const MAX_LN = 22;
const MAX_MEMORY = 256 * 1024 * 1024;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export type HashParseResult = { ok: true; hash: ParsedHash } | { ok: false; message: string };

/** Parses a hash string; the message explains what an administrator got wrong. */
export function parseHashString(text: string): HashParseResult {
  const parts = text.split('$');
  // "", "scrypt", "ln=..,r=..,p=..", salt, key
  if (parts.length >= 3 && parts[0] === '' && parts[1] !== 'scrypt') {
    return { ok: false, message: `unsupported hash scheme "${parts[1]}" (only scrypt)` };
  }
  if (parts.length !== 5 || parts[0] !== '') {
    return { ok: false, message: 'hash must look like $scrypt$ln=15,r=8,p=1$SALT$KEY (generate one with `relayguard passwd`)' };
  }
  const [, , paramText, saltText, keyText] = parts as [string, string, string, string, string];
  const params = parseScryptParams(paramText);
  if (typeof params === 'string') return { ok: false, message: params };
  if (!BASE64.test(saltText) || !BASE64.test(keyText)) return { ok: false, message: 'hash salt and key must be base64' };
  const salt = Buffer.from(saltText, 'base64');
  const key = Buffer.from(keyText, 'base64');
  if (salt.length < 8) return { ok: false, message: 'hash salt is shorter than 8 bytes' };
  if (key.length < 16 || key.length > 64) return { ok: false, message: 'hash key must be 16 to 64 bytes' };
  return { ok: true, hash: { params, salt, key } };
}

/** Parses "ln=15,r=8,p=1"; a string is the problem (also for `passwd --params`). */
export function parseScryptParams(text: string): ScryptParams | string {
  const values = new Map<string, number>();
  for (const item of text.split(',')) {
    const match = /^(ln|r|p)=(\d{1,3})$/.exec(item);
    if (!match || values.has(match[1] as string)) return `hash parameters must be ln=N,r=N,p=N, got "${text}"`;
    values.set(match[1] as string, Number(match[2]));
  }
  const ln = values.get('ln');
  const r = values.get('r');
  const p = values.get('p');
  if (ln === undefined || r === undefined || p === undefined) return `hash parameters must be ln=N,r=N,p=N, got "${text}"`;
  if (ln < MIN_LN || ln > MAX_LN) return `hash parameter ln must be ${MIN_LN}..${MAX_LN}, got ${ln}`;
  if (r < 1 || r > 32 || p < 1 || p > 16) return `hash parameters need r in 1..32 and p in 1..16, got r=${r},p=${p}`;
  if (scryptMemory({ ln, r, p }) > MAX_MEMORY) return `hash parameters ln=${ln},r=${r} need more than 256 MiB per login`;
  return { ln, r, p };
}

export function scryptMemory(params: ScryptParams): number {
  return 128 * params.r * 2 ** params.ln;
}

/** Canonical text of a parameter set, also a cache key. */
export function formatParams(params: ScryptParams): string {
  return `ln=${params.ln},r=${params.r},p=${params.p}`;
}

export function formatHashString(hash: ParsedHash): string {
  const b64 = (buffer: Buffer): string => buffer.toString('base64').replace(/=+$/, '');
  return `$scrypt$${formatParams(hash.params)}$${b64(hash.salt)}$${b64(hash.key)}`;
}

// Password hashing and verification. Hashes are self-describing strings
// (config/password-hash-format.ts). Verification reads the
// cost parameters from the string, so the default can be raised later and old
// hashes keep working until their users are given new ones.
//
// Only the async node:crypto scrypt is used: it runs on the libuv thread pool,
// so the event loop keeps serving other SMTP sessions while a hash is computed.
// Keys are compared with crypto.timingSafeEqual.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { DEFAULT_SCRYPT_PARAMS, KEY_BYTES, parseHashString, SALT_BYTES, formatHashString, scryptMemory, type ParsedHash, type ScryptParams } from '../config/password-hash-format.ts';

export {
  DEFAULT_SCRYPT_PARAMS,
  formatHashString,
  formatParams,
  parseHashString,
  parseScryptParams,
  type ParsedHash,
  type ScryptParams,
} from '../config/password-hash-format.ts';

// SASLprep-like: the same password typed as composed or decomposed Unicode
// gives the same bytes, at `passwd` time and at login time.
function passwordBytes(password: string): Buffer {
  return Buffer.from(password.normalize('NFKC'), 'utf8');
}

function deriveKey(password: string, salt: Buffer, keyLength: number, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = {
    N: 2 ** params.ln,
    r: params.r,
    p: params.p,
    // Node refuses at exactly 128*N*r with its 32 MiB default; give headroom.
    maxmem: 2 * scryptMemory(params) + 1024 * 1024,
  };
  return new Promise((resolve, reject) => {
    scrypt(passwordBytes(password), salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await deriveKey(password, salt, KEY_BYTES, params);
  return formatHashString({ params, salt, key });
}

/** Verifies against a parsed hash; the cost is the one written in the hash. */
export async function verifyParsed(password: string, hash: ParsedHash): Promise<boolean> {
  const derived = await deriveKey(password, hash.salt, hash.key.length, hash.params);
  return timingSafeEqual(derived, hash.key);
}

/** Verifies a password against a hash string; false for a malformed string. */
export async function verifyPassword(password: string, hashText: string): Promise<boolean> {
  const parsed = parseHashString(hashText);
  if (!parsed.ok) return false;
  return verifyParsed(password, parsed.hash);
}

/**
 * A hash no password matches (random salt and key) with the given cost, for
 * verifying unknown user names: same work, same duration, always false.
 */
export function dummyHash(params: ScryptParams): ParsedHash {
  return { params, salt: randomBytes(SALT_BYTES), key: randomBytes(KEY_BYTES) };
}

// The dashboard token and the browser sessions it opens. With a token
// configured, a request is let in by an `Authorization: Bearer <token>` header
// (scripts, Prometheus) or by a session cookie a browser gets from the login
// form or `/?token=` (a browser cannot add the header).
//
// A session is server-side: the cookie holds only a random id (32 bytes from
// crypto.randomBytes, base64url) that names an entry in a bounded in-memory
// table. An entry has a fixed expiry (http.session_ttl after login, default
// 12 h; it does not slide: using the dashboard does not extend it) and the
// token generation it was opened under (a hash of the token). So a copied
// cookie stops working at logout, at expiry, when the token changes (setToken,
// called on reload) and when the process restarts. The table holds at most
// maxSessions entries: opening one more sweeps the expired ones first and then
// drops the oldest. Every secret comparison is constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'relayguard_session';
export const DEFAULT_SESSION_TTL_MS = 12 * 3_600_000;
export const DEFAULT_MAX_SESSIONS = 1000;

type Headers = { authorization?: string | undefined; cookie?: string | undefined };

export interface TokenAuth {
  /** False when no token is configured: everything is open (loopback only). */
  readonly enabled: boolean;
  /** True if the request carries a valid bearer header or a live session cookie. */
  allows(headers: Headers): boolean;
  /**
   * Who a request is, for the audit log and the CSRF token: the bearer token,
   * a live session (its id), or undefined. Always undefined when disabled.
   */
  identify(headers: Headers): { kind: 'bearer' } | { kind: 'session'; id: string } | undefined;
  /** Compares a token typed into the login form or given as ?token=. */
  matches(candidate: string): boolean;
  /** Opens a session; returns the Set-Cookie value that carries it (Secure when `secure`). */
  sessionCookie(options?: { secure?: boolean }): string;
  /** Ends the session named by the request's cookie (if any); returns the Set-Cookie value that clears it. */
  revoke(cookie: string | undefined, options?: { secure?: boolean }): string;
  /** The Set-Cookie value that clears the cookie (without revoking anything). */
  clearCookie(options?: { secure?: boolean }): string;
  /**
   * A new token (reload). A different token ends every session; false when the
   * change cannot be applied without a restart (turning the token on or off).
   */
  setToken(token: string | undefined): boolean;
  /** Live sessions in the table (expired ones may still count until the next sweep). */
  readonly sessions: number;
}

export interface SessionOptions {
  /** How long a session lives after login; default 12 h. */
  readonly ttlMs?: number;
  /** Most sessions held at once; default 1000. */
  readonly maxSessions?: number;
  readonly now?: () => number;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function sameSecret(a: string, b: string): boolean {
  // Hashing first gives equal lengths, so timingSafeEqual never throws and the
  // time taken does not depend on how much of the candidate matched.
  return timingSafeEqual(digest(a), digest(b));
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

export function createTokenAuth(initialToken: string | undefined, options: SessionOptions = {}): TokenAuth {
  const ttlMs = options.ttlMs ?? DEFAULT_SESSION_TTL_MS;
  const maxSessions = Math.max(1, options.maxSessions ?? DEFAULT_MAX_SESSIONS);
  const now = options.now ?? Date.now;
  const enabled = Boolean(initialToken);
  let token = initialToken ?? '';
  let generation = digest(token).toString('base64url');
  /** id → when it expires and the token generation it belongs to; insertion order is age order. */
  const table = new Map<string, { expiresAt: number; generation: string }>();

  const attributes = (secure: boolean | undefined) => `Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
  const sweep = () => {
    const t = now();
    for (const [id, s] of table) if (s.expiresAt <= t || s.generation !== generation) table.delete(id);
  };
  const live = (id: string | undefined): boolean => {
    // The id is a lookup key, not a secret compared byte by byte: a Map lookup
    // leaks nothing useful about 256 random bits.
    if (id === undefined || !SESSION_ID.test(id)) return false;
    const s = table.get(id);
    if (!s) return false;
    if (s.expiresAt <= now() || s.generation !== generation) {
      table.delete(id);
      return false;
    }
    return true;
  };

  if (!enabled) {
    return {
      enabled: false,
      allows: () => true,
      identify: () => undefined,
      matches: () => false,
      sessionCookie: () => '',
      revoke: () => '',
      clearCookie: () => '',
      setToken: (next) => !next,
      sessions: 0,
    };
  }
  return {
    enabled: true,
    allows({ authorization, cookie }) {
      const bearer = /^Bearer\s+(.+?)\s*$/i.exec(authorization ?? '');
      if (bearer && sameSecret(bearer[1] as string, token)) return true;
      return live(readCookie(cookie, SESSION_COOKIE));
    },
    identify({ authorization, cookie }) {
      const bearer = /^Bearer\s+(.+?)\s*$/i.exec(authorization ?? '');
      if (bearer && sameSecret(bearer[1] as string, token)) return { kind: 'bearer' };
      const id = readCookie(cookie, SESSION_COOKIE);
      return id !== undefined && live(id) ? { kind: 'session', id } : undefined;
    },
    matches: (candidate) => sameSecret(candidate, token),
    sessionCookie({ secure } = {}) {
      if (table.size >= maxSessions) sweep();
      while (table.size >= maxSessions) {
        const oldest = table.keys().next().value as string;
        table.delete(oldest);
      }
      const id = randomBytes(32).toString('base64url');
      table.set(id, { expiresAt: now() + ttlMs, generation });
      return `${SESSION_COOKIE}=${id}; ${attributes(secure)}; Max-Age=${Math.floor(ttlMs / 1000)}`;
    },
    revoke(cookie, { secure } = {}) {
      const id = readCookie(cookie, SESSION_COOKIE);
      if (id !== undefined) table.delete(id);
      return `${SESSION_COOKIE}=; ${attributes(secure)}; Max-Age=0`;
    },
    clearCookie: ({ secure } = {}) => `${SESSION_COOKIE}=; ${attributes(secure)}; Max-Age=0`,
    setToken(next) {
      if (!next) return false;
      if (next !== token) {
        token = next;
        generation = digest(token).toString('base64url');
        table.clear();
      }
      return true;
    },
    get sessions() {
      return table.size;
    },
  };
}

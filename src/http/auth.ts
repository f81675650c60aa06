// The dashboard token. With a token configured, a request is let in by an
// `Authorization: Bearer <token>` header (scripts, Prometheus) or by the
// session cookie a browser gets from the login form or `/?token=` (a browser
// cannot add the header). The cookie does not hold the token itself but an
// HMAC of it, so it stops working as soon as the token changes and a leaked
// cookie does not reveal the token. Every comparison is constant time.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'relayguard_session';
const SESSION_MAX_AGE_S = 7 * 86_400;

export interface TokenAuth {
  /** False when no token is configured: everything is open (loopback only). */
  readonly enabled: boolean;
  /** True if the request carries a valid bearer header or session cookie. */
  allows(headers: { authorization?: string | undefined; cookie?: string | undefined }): boolean;
  /** Compares a token typed into the login form or given as ?token=. */
  matches(candidate: string): boolean;
  /** The Set-Cookie value that opens a browser session. */
  sessionCookie(): string;
  /** The Set-Cookie value that ends it. */
  clearCookie(): string;
}

function sameSecret(a: string, b: string): boolean {
  // Hashing first gives equal lengths, so timingSafeEqual never throws and the
  // time taken does not depend on how much of the candidate matched.
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db);
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function createTokenAuth(token: string | undefined): TokenAuth {
  if (!token) {
    return {
      enabled: false,
      allows: () => true,
      matches: () => false,
      sessionCookie: () => '',
      clearCookie: () => '',
    };
  }
  const session = createHmac('sha256', token).update('relayguard dashboard session v1').digest('base64url');
  const attributes = 'Path=/; HttpOnly; SameSite=Strict';
  return {
    enabled: true,
    allows({ authorization, cookie }) {
      const bearer = /^Bearer\s+(.+?)\s*$/i.exec(authorization ?? '');
      if (bearer && sameSecret(bearer[1] as string, token)) return true;
      const value = readCookie(cookie, SESSION_COOKIE);
      return value !== undefined && sameSecret(value, session);
    },
    matches: (candidate) => sameSecret(candidate, token),
    sessionCookie: () => `${SESSION_COOKIE}=${session}; ${attributes}; Max-Age=${SESSION_MAX_AGE_S}`,
    clearCookie: () => `${SESSION_COOKIE}=; ${attributes}; Max-Age=0`,
  };
}

// Operational failures of authentication (not policy outcomes: a wrong
// password is a Decision). The SMTP adapter answers these with a temporary
// reply (454 4.7.0 / 451 4.3.0) and logs the code; messages never hold secrets.

export type AuthErrorCode = 'AUTH_HASH_FAILED' | 'AUTH_STORE_UNAVAILABLE';

export class AuthError extends Error {
  readonly code: AuthErrorCode;
  readonly temporary = true;

  constructor(code: AuthErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuthError';
    this.code = code;
  }
}

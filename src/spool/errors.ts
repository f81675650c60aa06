// Operational failures of the spool. The front door turns a SpoolError into
// 451 4.3.0 (temporary) so the client retries; nothing is half-accepted.
export type SpoolErrorCode =
  | 'SPOOL_WRITE_FAILED'
  | 'SPOOL_MESSAGE_STREAM'
  | 'SPOOL_CORRUPT'
  | 'SPOOL_NOT_FOUND'
  | 'SPOOL_LOCKED'
  | 'SPOOL_CLOSED';

export class SpoolError extends Error {
  readonly code: SpoolErrorCode;
  readonly temporary: boolean;

  constructor(code: SpoolErrorCode, message: string, options?: { cause?: unknown; temporary?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SpoolError';
    this.code = code;
    this.temporary = options?.temporary ?? true;
  }
}

// Operational failures of the shared state store (Redis/Valkey). Callers fall
// back to in-process counters (fail_open) or refuse with a 4xx; a ClusterError
// never reaches an SMTP client as anything but a temporary reply.
//   REDIS_DOWN      not tried: the link is in an outage (no wait at all)
//   REDIS_TIMEOUT   no answer within cluster.command_timeout
//   REDIS_FAILED    the connection failed or Redis answered an error
export type ClusterErrorCode = 'REDIS_DOWN' | 'REDIS_TIMEOUT' | 'REDIS_FAILED';

export class ClusterError extends Error {
  readonly code: ClusterErrorCode;
  readonly temporary = true;

  constructor(code: ClusterErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ClusterError';
    this.code = code;
  }
}

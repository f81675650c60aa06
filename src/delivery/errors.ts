// Operational failures of delivery that are not a per-recipient SMTP outcome
// (those are values: smtp-reply.ts). `temporary` says whether retrying can help.
export type DeliveryErrorCode =
  | 'DELIVERY_CONNECT'
  | 'DELIVERY_TLS'
  | 'DELIVERY_AUTH'
  | 'DELIVERY_PROTOCOL'
  | 'DELIVERY_REPLY'
  | 'DELIVERY_DNS';

export class DeliveryError extends Error {
  readonly code: DeliveryErrorCode;
  readonly temporary: boolean;
  /** The SMTP reply that caused it, when there was one. */
  readonly reply?: string;
  /** The RFC 3463 code for the recipients, when the failure has its own (TLS: 4.7.4, 4.7.5). */
  readonly enhanced?: string;

  constructor(code: DeliveryErrorCode, message: string, options: { temporary: boolean; reply?: string; enhanced?: string; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DeliveryError';
    this.code = code;
    this.temporary = options.temporary;
    if (options.reply !== undefined) this.reply = options.reply;
    if (options.enhanced !== undefined) this.enhanced = options.enhanced;
  }
}

// The contract between the front door and the spool. The front door never
// delivers; the spool on disk is the only link to delivery.
import type { Readable } from 'node:stream';
import type { HoldMark } from './state-journal.ts';

export interface Envelope {
  /** "" for the null sender <>. */
  readonly sender: string;
  readonly recipients: readonly string[];
  readonly clientIp: string;
  readonly clientHostname?: string;
  readonly helo: string;
  readonly authUser?: string;
  readonly listener: string;
  /** Epoch milliseconds when the message was accepted. */
  readonly receivedAt: number;
  /** The SMTP session id, to tie spool entries to connection logs. */
  readonly sessionId?: string;
  /** The ESMTP parameters the client declared on MAIL FROM (issue 21); absent when none. */
  readonly esmtp?: EsmtpParameters;
  /**
   * Per-recipient DSN parameters (RFC 3461), parallel to `recipients` (same
   * index); `null` where that RCPT carried none. Absent when no RCPT did.
   */
  readonly recipientDsn?: readonly (RecipientDsn | null)[];
  /**
   * How the client that handed us the message was judged when we accepted it
   * (issue 16 item 2): whether a later refusal by the backend may be bounced
   * to the sender. Absent in spool files written before it existed.
   */
  readonly origin?: MessageOrigin;
}

export interface MessageOrigin {
  /** A relay-networks client or an authenticated user: its bounces go to our own users. */
  readonly trusted: boolean;
  /** DNSBL zones were asked about the client and none listed it or failed (no zones: false). */
  readonly dnsblPassed: boolean;
  /** The sender's domain resolved at MAIL (the sender-domain check), or is one of our local domains. */
  readonly senderDomainResolves: boolean;
  /** Live recipient verification was on: every local recipient was verified at RCPT. */
  readonly verified: boolean;
}

/** MAIL FROM parameters that travel with the message (validated by the front door). */
export interface EsmtpParameters {
  /** SMTPUTF8 (RFC 6531) was declared. */
  readonly smtputf8?: true;
  /** BODY= (RFC 6152); absent means the client did not say (treat as 7BIT). */
  readonly body?: '7BIT' | '8BITMIME';
  /** RET= (RFC 3461 4.3). */
  readonly ret?: 'FULL' | 'HDRS';
  /** ENVID= (RFC 3461 4.4), xtext-decoded. */
  readonly envid?: string;
  /** REQUIRETLS (RFC 8689) was declared. */
  readonly requiretls?: true;
}

/** RCPT TO parameters of RFC 3461. */
export interface RecipientDsn {
  /** NOTIFY=: either ['NEVER'] or a non-empty subset of SUCCESS, FAILURE, DELAY. */
  readonly notify?: readonly ('NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY')[];
  /** ORCPT=: address type and xtext-decoded address, e.g. { type: 'rfc822', address: 'a@b' }. */
  readonly orcpt?: { readonly type: string; readonly address: string };
}

export interface AcceptOptions {
  /** A queue id from nextId(), e.g. already written into the Received: header. */
  readonly id?: string;
  /**
   * Called once the message stream has ended, before anything is made
   * durable. Throwing (e.g. the size limit was exceeded) discards the file and
   * rejects accept() with that same error.
   */
  readonly check?: () => void;
  /**
   * Store the message held (accepted and durable, never delivered until
   * released or expired): a rule or trigger that wants the mail kept without
   * telling the client. The hold is written with the message itself.
   */
  readonly hold?: HoldMark;
}

export interface SpoolIntake {
  /** A fresh queue id, for a Received: header written before accept(). */
  nextId(): string;
  /**
   * Stores the message bytes and envelope durably. Resolves with the queue id
   * only after the data and the directory entry are fsynced; rejects (and
   * leaves nothing behind) if `message` errors or the disk write fails.
   * A Buffer is taken as the whole message (bounces, tests).
   */
  accept(envelope: Envelope, message: Readable | Buffer, options?: AcceptOptions): Promise<string>;
}

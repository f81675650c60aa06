// The contract between the front door and the spool. The front door never
// delivers; the spool on disk is the only link to delivery.
import type { Readable } from 'node:stream';

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

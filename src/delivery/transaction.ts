// One message made ready for one next hop, from what that hop offered
// (esmtp-plan.ts for addresses and DSN parameters, mime-downgrade.ts for
// the body): which recipients can go and in which form, which fail here
// (5.6.7 an address that needs SMTPUTF8, 5.6.3 a body that cannot be made
// 7-bit), the bytes to send and the parameters to add. The 7-bit form of a
// message is made at most once per attempt, and only for a hop without
// 8BITMIME; it is logged, because it breaks any DKIM body hash.
import type { Readable } from 'node:stream';
import { buffer as readAll } from 'node:stream/consumers';
import type { Logger } from '../log/logger.ts';
import type { EsmtpParameters, RecipientDsn } from '../spool/types.ts';
import { mailParameters, planAddresses, rcptDsnParameters, type HopExtensions } from './esmtp-plan.ts';
import { localFailure, type RecipientResult } from './smtp-reply.ts';
import type { TransactionParameters } from './smtp-session.ts';

export interface MessageInput {
  readonly queueId: string;
  readonly sender: string;
  readonly recipients: readonly string[];
  readonly size: number;
  readonly body: () => Buffer | Readable;
  readonly esmtp?: EsmtpParameters;
  /** Parallel to `recipients`. */
  readonly dsn?: readonly (RecipientDsn | null)[];
}

type SevenBit = { readonly ok: true; readonly message?: Buffer } | { readonly ok: false; readonly reason: string };

export interface Prepared {
  readonly sender: string;
  /** Recipients as sent. */
  readonly recipients: string[];
  /** Sent form back to the envelope's address. */
  readonly original: ReadonlyMap<string, string>;
  /** Recipients that fail at this hop before anything is sent. */
  readonly refused: RecipientResult[];
  readonly body: () => Buffer | Readable;
  readonly size: number;
  readonly parameters: TransactionParameters;
}

/** The forms of one message for the hosts of one attempt. */
export class MessageForms {
  readonly #input: MessageInput;
  readonly #logger: Logger;
  #sevenBit: Promise<SevenBit> | undefined;

  constructor(input: MessageInput, logger: Logger) {
    this.#input = input;
    this.#logger = logger;
  }

  sevenBit(): Promise<SevenBit> {
    this.#sevenBit ??= this.#convert();
    return this.#sevenBit;
  }

  async #convert(): Promise<SevenBit> {
    const source = this.#input.body();
    const bytes = Buffer.isBuffer(source) ? source : await readAll(source);
    // Loaded on the first downgrade only: libmime brings iconv-lite's and
    // encoding-japanese's tables (~0.8 MB of code, ~2 MiB of heap), which
    // every thread that can deliver (the delivery worker, the main thread
    // through queue-runner's import) would otherwise carry for a rare case.
    const { downgradeToSevenBit } = await import('./mime-downgrade.ts');
    const result = downgradeToSevenBit(bytes);
    if (result.kind === 'unchanged') return { ok: true };
    if (result.kind === 'impossible') return { ok: false, reason: result.reason };
    if (result.eightBitHeaders) {
      this.#logger.warn({ queueId: this.#input.queueId }, '8-bit header fields sent as they are to a next hop without 8BITMIME (only bodies are converted)');
    }
    if (result.parts > 0) {
      this.#logger.info(
        { queueId: this.#input.queueId, parts: result.parts, size: bytes.length, convertedSize: result.message.length },
        '8-bit message converted to quoted-printable for a next hop without 8BITMIME: DKIM body signatures will no longer verify',
      );
      return { ok: true, message: result.message };
    }
    return { ok: true };
  }
}

export async function prepareTransaction(input: MessageInput, recipients: readonly string[], hop: HopExtensions, forms: MessageForms, host: string): Promise<Prepared> {
  const plan = planAddresses(input.sender, recipients, input.esmtp, hop);
  const refused = plan.refused.map((r) =>
    localFailure(r, plan.sender === undefined ? `the sender address needs SMTPUTF8, which ${host} does not offer` : `the recipient address needs SMTPUTF8, which ${host} does not offer`, '5.6.7'),
  );
  const original = new Map<string, string>();
  for (const [address, sent] of plan.recipients) original.set(sent, address);
  let body = input.body;
  let size = input.size;
  if (!hop.eightBitMime && original.size > 0) {
    const form = await forms.sevenBit();
    if (!form.ok) {
      const reason = `the message has 8-bit content that cannot be converted to 7 bits for ${host}, which does not offer 8BITMIME: ${form.reason}`;
      return { sender: plan.sender ?? '', recipients: [], original: new Map(), refused: [...refused, ...[...original.values()].map((r) => localFailure(r, reason, '5.6.3'))], body, size, parameters: {} };
    }
    if (form.message) {
      const converted = form.message;
      body = () => converted;
      size = converted.length;
    }
  }
  const rcpt = new Map<string, string>();
  if (hop.dsn && input.dsn) {
    const index = new Map(input.recipients.map((r, i) => [r, i]));
    for (const [sent, address] of original) {
      const params = rcptDsnParameters(input.dsn[index.get(address) ?? -1]);
      if (params) rcpt.set(sent, params);
    }
  }
  return {
    sender: plan.sender ?? '',
    recipients: [...original.keys()],
    original,
    refused,
    body,
    size,
    parameters: { mail: mailParameters(input.esmtp, plan, hop), rcpt },
  };
}

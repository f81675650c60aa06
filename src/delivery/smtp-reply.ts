// PURE. Turns what an SMTP server said (or did not say) into a per-recipient
// outcome: 2xx delivered, 5xx failed, 4xx / timeout / connection failure
// deferred. Enhanced status codes (RFC 3463) are kept for bounces.

export type RecipientOutcomeStatus = 'delivered' | 'deferred' | 'failed';

export interface RecipientResult {
  readonly recipient: string;
  readonly status: RecipientOutcomeStatus;
  /** The server's reply, or a local description ("connect to ...: ECONNREFUSED"). */
  readonly reply: string;
  /** RFC 3463 code, from the reply or inferred from the reply class. */
  readonly enhanced: string;
  /** name[ip]:port of the host that answered, when one did. */
  readonly host?: string;
  /** Accepted by a next hop that offered DSN: it took the NOTIFY request over (no "relayed" DSN from us). */
  readonly dsnPassed?: true;
}

/** One line, printable, bounded: replies go into logs, journals and bounces. */
export function cleanReply(text: string, max = 500): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/\r?\n/g, ' / ').replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}...` : flat;
}

export function replyCode(reply: string): number | undefined {
  const match = /^([2-5])\d\d\b/.exec(reply.trim());
  return match ? Number(reply.trim().slice(0, 3)) : undefined;
}

export function enhancedCode(reply: string): string | undefined {
  const match = /^[2-5]\d\d[ -]([245])\.(\d{1,3})\.(\d{1,3})\b/.exec(reply.trim());
  return match ? `${match[1]}.${match[2]}.${match[3]}` : undefined;
}

/** The outcome of one reply for a recipient. */
export function outcomeOfReply(recipient: string, reply: string, host?: string): RecipientResult {
  const code = replyCode(reply);
  const cls = code === undefined ? 4 : Math.floor(code / 100);
  const status = cls === 2 ? 'delivered' : cls === 5 ? 'failed' : 'deferred';
  const enhanced = enhancedCode(reply) ?? (cls === 2 ? '2.0.0' : cls === 5 ? '5.0.0' : '4.0.0');
  return { recipient, status, reply: cleanReply(reply), enhanced, ...(host ? { host } : {}) };
}

/** A local, temporary failure (no SMTP reply): connection refused, timeout, TLS, DNS. */
export function localDeferral(recipient: string, reason: string, enhanced = '4.4.1', host?: string): RecipientResult {
  return { recipient, status: 'deferred', reply: cleanReply(reason), enhanced, ...(host ? { host } : {}) };
}

/** A local, permanent failure (null MX, mail loop, no such domain). */
export function localFailure(recipient: string, reason: string, enhanced: string): RecipientResult {
  return { recipient, status: 'failed', reply: cleanReply(reason), enhanced };
}

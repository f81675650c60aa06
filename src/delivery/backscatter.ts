// PURE. Which failed recipients of a message get a DSN (issue 16 item 2: no
// backscatter). With live recipient verification on, a recipient we accepted
// from an untrusted client was verified at RCPT; if the backend then refuses
// it after all (5xx at delivery: the user was deleted in between, a quota
// policy, a probe answered by a different host) the sender is, on the
// internet, usually forged, and a DSN to it is backscatter. Such a refusal is
// always logged and counted; config recipient_verification.dsn_after_accept
// decides whether the DSN goes out:
//   checked_sender (default): only when the sender passed the DNSBL checks
//                  and its domain resolved when we accepted the message
//   always / never
// Mail from relay networks and authenticated users always gets its bounce
// (it goes to our own users). Whatever the setting, no DSN ever goes to a
// sender in one of our local domains whose user we know does not exist
// (policies/recipients says unknown, or the next hop refused it).
import type { StoredEnvelope } from '../spool/spool-file.ts';
import type { RecipientResult } from './smtp-reply.ts';

export type DsnAfterAccept = 'checked_sender' | 'always' | 'never';

export interface BounceChoice {
  /** Recipients the DSN is about (empty: no DSN). */
  readonly bounce: readonly RecipientResult[];
  /** Refused by the backend (5xx) after we accepted them from an untrusted client with verification on. */
  readonly refusedAfterAccept: readonly RecipientResult[];
  /** Failed recipients that get no DSN, and why. */
  readonly suppressed: readonly RecipientResult[];
  readonly why?: 'unknown_local_sender' | 'setting_never' | 'unchecked_sender';
}

/** A recipient the next hop refused with a 5xx reply (not an expiry, not a local failure). */
function refusedByBackend(result: RecipientResult): boolean {
  return result.host !== undefined && result.enhanced.startsWith('5.') && /^5\d\d\b/.test(result.reply);
}

export function chooseBounces(envelope: StoredEnvelope, failed: readonly RecipientResult[], setting: DsnAfterAccept, senderUnknownLocal: boolean): BounceChoice {
  const origin = envelope.origin;
  const watched = origin !== undefined && origin.verified && !origin.trusted;
  const refusedAfterAccept = watched ? failed.filter(refusedByBackend) : [];
  if (senderUnknownLocal) return { bounce: [], refusedAfterAccept, suppressed: failed, why: 'unknown_local_sender' };
  if (refusedAfterAccept.length === 0) return { bounce: failed, refusedAfterAccept, suppressed: [] };
  const send = setting === 'always' || (setting === 'checked_sender' && origin !== undefined && origin.dnsblPassed && origin.senderDomainResolves);
  if (send) return { bounce: failed, refusedAfterAccept, suppressed: [] };
  const refused = new Set(refusedAfterAccept);
  return {
    bounce: failed.filter((r) => !refused.has(r)),
    refusedAfterAccept,
    suppressed: refusedAfterAccept,
    why: setting === 'never' ? 'setting_never' : 'unchecked_sender',
  };
}

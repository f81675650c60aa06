// PURE. What a remote server's refusal of our mail means (issue 19 item 3):
// a block list that names us, a rate limit or a reputation verdict, greylisting,
// an unknown recipient, a full mailbox, a policy (DMARC, SPF, content) or a
// demand for TLS. The admin needs the first three loudly: they are about our
// address, not about one message. Replies are matched by their enhanced code
// where it is specific, and by the words the big providers document (their
// texts are in test/delivery/refusal-class.test.ts with where they come from).
// Only remote replies are classified: a local failure (timeout, refused
// connection, DNS) has no reply code and is `other`.
import { enhancedCode, replyCode } from './smtp-reply.ts';

export type RefusalClass =
  | 'blocklist'
  | 'rate_limit'
  | 'reputation'
  | 'greylist'
  | 'recipient_unknown'
  | 'mailbox_full'
  | 'policy'
  | 'tls_required'
  | 'other';

export interface RefusalClassification {
  readonly class: RefusalClass;
  /** The block list or provider named by the reply (blocklist, rate_limit, reputation). */
  readonly list?: string;
}

/** Block lists as replies name them (zone names, or the provider's own words). */
const BLOCK_LISTS: ReadonlyArray<readonly [RegExp, string]> = [
  [/spamhaus/i, 'Spamhaus'],
  [/barracuda/i, 'Barracuda'],
  [/spamcop/i, 'SpamCop'],
  [/\bsorbs\b/i, 'SORBS'],
  [/\bpsbl\b|surriel\.com/i, 'PSBL'],
  [/uceprotect/i, 'UCEPROTECT'],
  [/\bS3150\b|\bS3140\b|banned sending ip|5\.7\.(?:606|6[0-4]\d)\b/i, 'Microsoft'],
  [/cloudmark|\bcsi\b/i, 'Cloudmark'],
  [/proofpoint|ppe-hosted|\bipcheck\b/i, 'Proofpoint'],
];

/** PURE. Classifies one remote reply (the whole text as the server sent it). */
export function classifyRefusal(reply: string): RefusalClassification {
  const code = replyCode(reply);
  if (code === undefined || code < 400) return { class: 'other' };
  const enhanced = enhancedCode(reply) ?? '';
  const text = reply;

  const by = provider(text);
  const named = by ? { list: by } : {};
  if (/unusual rate of unsolicited mail|rate limited|rate limit|too many (?:messages|connections|emails)|sending rate|receiving mail at a rate/i.test(text) || enhanced === '4.7.28') {
    return { class: 'rate_limit', ...named };
  }
  if (/likely unsolicited mail|low reputation|poor reputation|reputation of the sending|ip reputation|domain reputation|unexpected volume or user complaints|\bTS[S]?0[1-4]\b/i.test(text)) {
    return { class: 'reputation', ...named };
  }
  for (const [pattern, list] of BLOCK_LISTS) if (pattern.test(text)) return { class: 'blocklist', list };
  if (/block ?list|black ?list|blocked using|listed (?:at|in|on|by)|\bdnsbl\b|\brbl\b/i.test(text)) return { class: 'blocklist', list: namedZone(text) ?? 'unnamed list' };

  if (/grey-?list|gray-?list|greylisted|graylisted/i.test(text)) return { class: 'greylist' };
  if (/starttls|must issue a starttls|tls (?:is )?required|requiretls|encryption required|not sent over a tls/i.test(text) || enhanced === '5.7.10' || enhanced === '5.7.11') {
    return { class: 'tls_required' };
  }
  if (/^[45]\.2\.2$/.test(enhanced) || /over quota|quota exceeded|mailbox (?:is )?full|insufficient (?:system )?storage/i.test(text)) {
    return { class: 'mailbox_full' };
  }
  if (/^5\.1\.(?:1|10|6)$/.test(enhanced) || /user unknown|no such user|does not exist|recipient not found|unknown recipient|mailbox unavailable|invalid recipient|address rejected: user unknown/i.test(text)) {
    return { class: 'recipient_unknown' };
  }
  if (/dmarc|\bspf\b|dkim|unauthenticated|authentication checks|policy reasons|5\.7\.(?:1|23|25|26|27|509|510)\b/i.test(`${text} ${enhanced}`)) {
    return { class: 'policy' };
  }
  return { class: 'other' };
}

/** The big mailbox provider whose words these are, when the reply says. */
function provider(text: string): string | undefined {
  if (/gmail|google\.com|gsmtp/i.test(text)) return 'Gmail';
  if (/yahoo/i.test(text)) return 'Yahoo';
  if (/outlook\.com|hotmail|protection\.outlook|live\.com/i.test(text)) return 'Microsoft';
  return undefined;
}

/** A DNSBL zone named in a reply ("blocked using bl.example.org"), for lists we do not know by name. */
function namedZone(text: string): string | undefined {
  return /blocked using ([a-z0-9.-]+\.[a-z]{2,})/i.exec(text)?.[1]?.toLowerCase();
}

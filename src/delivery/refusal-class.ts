// PURE. What a remote server's refusal of our mail means (issue 19 item 3):
// a block list that names us, a rate limit or a reputation verdict, missing
// reverse DNS (PTR) for our address, greylisting, a next hop that will not
// relay for us (smarthost authentication), an unknown recipient, a full
// mailbox, a message too large, its content (spam, virus), a policy (DMARC,
// SPF, DKIM) or a demand for TLS. The admin needs the address-level ones
// loudly (blocklist, rate_limit, reputation, reverse_dns): they are about our
// address, not about one message. Gmail's 2024 codes say "rate limited because
// SPF/DKIM/TLS/PTR ...": the cause, not the rate, is the class. Replies are matched by their enhanced code
// where it is specific, and by the words the big providers document (their
// texts are in test/delivery/refusal-class.test.ts with where they come from).
// Only remote replies are classified: a local failure (timeout, refused
// connection, DNS) has no reply code and is `other`.
import { enhancedCode, replyCode } from './smtp-reply.ts';

export type RefusalClass =
  | 'blocklist'
  | 'rate_limit'
  | 'reputation'
  | 'reverse_dns'
  | 'greylist'
  | 'relay_denied'
  | 'recipient_unknown'
  | 'mailbox_full'
  | 'too_large'
  | 'content'
  | 'policy'
  | 'tls_required'
  | 'other';

/** The classes that are about our address (the dashboard's banner), not about one message. */
export const ADDRESS_CLASSES: ReadonlySet<RefusalClass> = new Set(['blocklist', 'rate_limit', 'reputation', 'reverse_dns']);

export interface RefusalClassification {
  readonly class: RefusalClass;
  /** The block list or provider named by the reply (address classes; reverse_dns: the provider or "remote servers"). */
  readonly list?: string;
}

/** Block lists as replies name them (zone names, or the provider's own words and codes). */
const BLOCK_LISTS: ReadonlyArray<readonly [RegExp, string]> = [
  [/spamhaus/i, 'Spamhaus'],
  [/barracuda/i, 'Barracuda'],
  [/spamcop/i, 'SpamCop'],
  [/\bsorbs\b/i, 'SORBS'],
  [/\bpsbl\b|surriel\.com/i, 'PSBL'],
  [/uceprotect/i, 'UCEPROTECT'],
  // Outlook.com / Exchange Online: S3150, S3140, 5.7.511 banned sender, 5.7.606-649 banned IP, the older SC-/DY-/OU- codes.
  [/\bS3150\b|\bS3140\b|banned sending ip|banned sender|5\.7\.(?:511|606|6[0-4]\d)\b|\b(?:SC|DY|OU)-00\d\b/i, 'Microsoft'],
  [/cloudmark|\bcsi\b/i, 'Cloudmark'],
  [/proofpoint|ppe-hosted|\bipcheck\b/i, 'Proofpoint'],
];

/** PURE. Classifies one remote reply (the whole text as the server sent it). */
export function classifyRefusal(reply: string): RefusalClassification {
  const code = replyCode(reply);
  if (code === undefined || code < 400) return { class: 'other' };
  const enhanced = enhancedCode(reply) ?? '';
  const text = reply;
  const detail = enhanced.replace(/^[45]\./, 'x.');

  const by = provider(text);
  const named = by ? { list: by } : {};
  // Causes first: Gmail says "rate limited because ..." for each of these (4.7.2x/4.7.3x), and 5.7.2x refuses for them.
  if (detail === 'x.7.29' || /not sent over a tls|wasn't sent over a tls/i.test(text)) return { class: 'tls_required' };
  if (detail === 'x.7.23' || detail === 'x.7.25' || /\bPTR\b|reverse dns|reverse hostname|reverse (?:dns )?lookup|\brdns\b/i.test(text)) {
    return { class: 'reverse_dns', list: by ?? 'remote servers' };
  }
  if (/^x\.7\.(?:26|27|30|32|40)$/.test(detail) || /rate limited because (?:this message is unauthenticated|spf|dkim|the from)/i.test(text)) return { class: 'policy' };
  if (/unusual rate of unsolicited mail|rate limited|rate limit|too many (?:messages|connections|emails)|sending rate|receiving mail at a rate|receiving mail too quickly/i.test(text) || detail === 'x.7.28' || /^4\.7\.65[01]$/.test(enhanced)) {
    return { class: 'rate_limit', ...(by ? named : /^4\.7\.65[01]$/.test(enhanced) ? { list: 'Microsoft' } : {}) };
  }
  if (/likely unsolicited mail|low reputation|poor reputation|reputation of the sending|ip reputation|domain reputation|unexpected volume or user complaints|\[TSS?\d\d\]|\bTS[S]?0[1-4]\b|\[GL01\]|traffic not accepted from this ip|not authorized to send email directly to our servers/i.test(text) || enhanced === '5.7.708') {
    return { class: 'reputation', ...(by ? named : enhanced === '5.7.708' ? { list: 'Microsoft' } : {}) };
  }
  for (const [pattern, list] of BLOCK_LISTS) if (pattern.test(text)) return { class: 'blocklist', list };
  if (/block ?list|black ?list|blocked using|listed (?:at|in|on|by)|\bdnsbl\b|\brbl\b|sender address blocked/i.test(text)) return { class: 'blocklist', list: namedZone(text) ?? by ?? 'unnamed list' };

  if (/grey-?list|gray-?list|greylisted|graylisted|internal resources? (?:is |are )?temporarily unavailable/i.test(text)) return { class: 'greylist' };
  if (/starttls|must issue a starttls|tls (?:is )?required|requiretls|encryption required/i.test(text) || detail === 'x.7.10' || detail === 'x.7.11') {
    return { class: 'tls_required' };
  }
  // Our next hop (a smarthost) refusing to relay for us, or our credentials there: a configuration problem of ours.
  if (/relay access denied|unable to relay|relaying denied|relay not permitted|mail relay denied|authentication required|client not authenticated|username and password not accepted|authentication unsuccessful|authentication credentials invalid/i.test(text) || detail === 'x.7.57' || detail === 'x.7.8') {
    return { class: 'relay_denied' };
  }
  if (/^[45]\.3\.4$/.test(enhanced) || enhanced === '5.2.3' || /message size exceeds|exceeded .{0,20}message size limit|message too (?:big|large)|size limits?/i.test(text)) {
    return { class: 'too_large' };
  }
  if (/^[45]\.2\.2$/.test(enhanced) || /over quota|quota exceeded|mailbox (?:is )?full|insufficient (?:system )?storage/i.test(text)) {
    return { class: 'mailbox_full' };
  }
  if (/^5\.1\.(?:1|10|6)$/.test(enhanced) || /user unknown|no such user|does not exist|recipient not found|unknown recipient|mailbox unavailable|invalid recipient|address rejected: user unknown/i.test(text)) {
    return { class: 'recipient_unknown' };
  }
  if (/rejected as spam|as spam by|spam content|content filter|\bvirus\b|malware|security polic(?:y|ies)|potential security issue/i.test(text)) return { class: 'content' };
  if (/dmarc|\bspf\b|dkim|unauthenticated|authentication checks|policy reasons|5\.7\.(?:1|23|25|26|27|509|510)\b/i.test(`${text} ${enhanced}`)) {
    return { class: 'policy' };
  }
  return { class: 'other' };
}

/** The big mailbox provider or filtering service whose words these are, when the reply says. */
function provider(text: string): string | undefined {
  if (/gmail|google\.com|gsmtp/i.test(text)) return 'Gmail';
  if (/yahoo|\baol\b/i.test(text)) return 'Yahoo';
  if (/outlook\.com|hotmail|protection\.outlook|live\.com|office\.com|messaging\.microsoft\.com/i.test(text)) return 'Microsoft';
  if (/mimecast/i.test(text)) return 'Mimecast';
  if (/proofpoint|pphosted/i.test(text)) return 'Proofpoint';
  return undefined;
}

/** A DNSBL zone named in a reply ("blocked using bl.example.org"), for lists we do not know by name. */
function namedZone(text: string): string | undefined {
  return /blocked using ([a-z0-9.-]+\.[a-z]{2,})/i.exec(text)?.[1]?.toLowerCase();
}

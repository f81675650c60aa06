// PURE. Classification of remote refusals (issue 19 item 3), on reply texts
// as the providers publish them. Sources (public documentation, 2024-2025):
//  - Spamhaus, "Blocklist removal / error messages": Postfix-style rejects naming zen.spamhaus.org
//  - Barracuda Central, "Barracuda Reputation Block List" bounce examples (b.barracudacentral.org)
//  - SpamCop, "Why are messages rejected?" (bl.spamcop.net, spamcop.net/bl.shtml)
//  - Microsoft, "Email non-delivery reports in Exchange Online" / Outlook.com postmaster: S3150, S3140, 5.7.606-649
//  - Google, "SMTP errors and codes" (support.google.com/a/answer/3726730): 421 4.7.28, 550 5.7.1, 550 5.7.26, 4.2.1, 4.2.2, 5.1.1
//  - Postgrey's documented reply; RFC 3207 for "Must issue a STARTTLS command first"; Yahoo postmaster 5.7.9
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyRefusal, type RefusalClass } from '../../src/delivery/refusal-class.ts';

const ROWS: ReadonlyArray<readonly [string, RefusalClass, string?]> = [
  ['554 5.7.1 Service unavailable; Client host [192.0.2.25] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.25', 'blocklist', 'Spamhaus'],
  ['550 5.7.1 Service unavailable; client [192.0.2.25] blocked using sbl.spamhaus.org', 'blocklist', 'Spamhaus'],
  ['554 Service unavailable; Client host [192.0.2.25] blocked using b.barracudacentral.org; http://www.barracudanetworks.com/reputation/?pr=1&ip=192.0.2.25', 'blocklist', 'Barracuda'],
  ['554 5.7.1 Service unavailable; Client host [192.0.2.25] blocked using bl.spamcop.net; Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.25', 'blocklist', 'SpamCop'],
  ["550 5.7.1 Unfortunately, messages from [192.0.2.25] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150). You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors. [AM1PEPF000252DF.eurprd07.prod.outlook.com]", 'blocklist', 'Microsoft'],
  ["550 5.7.1 Unfortunately, messages from [192.0.2.25] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3140).", 'blocklist', 'Microsoft'],
  ['550 5.7.606 Access denied, banned sending IP [192.0.2.25]. To request removal from this list please visit https://sender.office.com/', 'blocklist', 'Microsoft'],
  ['554 5.7.1 Rejected: 192.0.2.25 listed at dnsbl.example.net', 'blocklist', 'unnamed list'],
  ['421-4.7.28 [192.0.2.25      15] Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited. gsmtp', 'rate_limit', 'Gmail'],
  ['450-4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered. Please resend your message at a later point. gsmtp', 'rate_limit', 'Gmail'],
  ['550-5.7.1 [192.0.2.25] Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked. gsmtp', 'reputation', 'Gmail'],
  ['421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes', 'reputation', 'Yahoo'],
  ['450 4.2.0 <bob@example.org>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.org.html', 'greylist'],
  ['451 4.7.1 Greylisting in action, please come back later', 'greylist'],
  ['550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient\'s email address for typos or unnecessary spaces. gsmtp', 'recipient_unknown'],
  ['550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup', 'recipient_unknown'],
  ['550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown in virtual mailbox table', 'recipient_unknown'],
  ['452-4.2.2 The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp gsmtp', 'mailbox_full'],
  ['552 5.2.2 Mailbox full', 'mailbox_full'],
  ['550-5.7.26 Unauthenticated email from example.com is not accepted due to domain\'s DMARC policy. Please contact the administrator of example.com domain if this was a legitimate mail. gsmtp', 'policy'],
  ['550 5.7.509 Access denied, sending domain [EXAMPLE.COM] does not pass DMARC verification and has a DMARC policy of reject.', 'policy'],
  ['554 5.7.9 Message not accepted for policy reasons.  See https://help.yahoo.com/kb/postmaster/SLN7253.html', 'policy'],
  ['530 5.7.0 Must issue a STARTTLS command first', 'tls_required'],
  ['451 4.4.2 Timeout waiting for data from client', 'other'],
];

test('classifyRefusal: published provider replies -> class and list', () => {
  for (const [reply, cls, list] of ROWS) {
    const got = classifyRefusal(reply);
    assert.equal(got.class, cls, reply);
    assert.equal(got.list, list, reply);
  }
});

test('classifyRefusal: no reply code (a local failure) or a success is not a refusal class', () => {
  assert.deepEqual(classifyRefusal('connect to mx.example.org[192.0.2.1]:25: ECONNREFUSED'), { class: 'other' });
  assert.deepEqual(classifyRefusal('250 2.0.0 Ok'), { class: 'other' });
});

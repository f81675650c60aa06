// PURE. Classification of remote refusals (issue 19 item 3), on reply texts
// as the providers publish them. Sources (public documentation, 2024-2025):
//  - Spamhaus, "Blocklist removal / error messages": Postfix-style rejects naming zen.spamhaus.org
//  - Barracuda Central, "Barracuda Reputation Block List" bounce examples (b.barracudacentral.org)
//  - SpamCop, "Why are messages rejected?" (bl.spamcop.net, spamcop.net/bl.shtml)
//  - Microsoft, "Email non-delivery reports in Exchange Online" / Outlook.com postmaster: S3150, S3140, 5.7.606-649
//  - Google, "SMTP errors and codes" (support.google.com/a/answer/3726730): 421 4.7.28, 550 5.7.1, 550 5.7.26, 4.2.1, 4.2.2, 5.1.1
//  - Postgrey's documented reply; RFC 3207 for "Must issue a STARTTLS command first"; Yahoo postmaster 5.7.9
// Added for the classes found missing (issue 19 item 3 gaps):
//  - Google, "SMTP errors and codes" (2024 sender requirements): 4.7.23/5.7.25 PTR, 4.7.26/4.7.27/4.7.30/4.7.32
//    "rate limited because ..." (authentication, not rate), 4.7.29 TLS, 5.2.3 message size, IPv6 PTR guideline,
//    5.7.1 "not authorized to send email directly to our servers", 552 5.7.0 "potential security issue"
//  - Microsoft, Exchange Online NDRs and Outlook.com postmaster: 4.7.650 (S775) IP reputation rate limit,
//    5.7.511 banned sender, 5.7.708 traffic not accepted, SC-001 block list, 5.7.57 client not authenticated,
//    5.3.4 message size, "Message rejected as spam by Content Filtering"
//  - Yahoo postmaster error codes (postmaster.yahooinc.com/error-codes): TSS09, BL21 (Spamhaus)
//  - Mimecast, "Mimecast SMTP Error Codes": 451 Internal resource temporarily unavailable (greylisting),
//    421 Sender address blocked, 554 Email rejected due to security policies
//  - Proofpoint: 554 5.7.0 Blocked - see ipcheck.proofpoint.com; Postfix reject_unknown_client_hostname,
//    relay_access_denied; Gmail smtp-relay 535-5.7.8
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
  // Gmail: the cause named, not the rate limit.
  ["421-4.7.23 The sending IP address for this message doesn't have a PTR record, or the PTR record's forward DNS entry doesn't match the sending IP address. To protect users from spam, mail sent from your IP address has been rate limited. gsmtp", 'reverse_dns', 'Gmail'],
  ["550-5.7.25 The IP address sending this message does not have a PTR record setup, or the corresponding forward DNS entry does not point to the sending IP. As a policy, Gmail does not accept messages from IPs with missing PTR records. gsmtp", 'reverse_dns', 'Gmail'],
  ['550-5.7.1 [2001:db8::25] Our system has detected that this message does not meet IPv6 sending guidelines regarding PTR records and authentication. gsmtp', 'reverse_dns', 'Gmail'],
  ['450 4.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.25]', 'reverse_dns', 'remote servers'],
  ["421-4.7.29 Your email has been rate limited because this message wasn't sent over a TLS connection. Gmail requires all bulk email senders to use TLS/SSL for SMTP connections. gsmtp", 'tls_required'],
  ['421-4.7.26 Your email has been rate limited because this message is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM. gsmtp', 'policy'],
  ["421-4.7.27 Your email has been rate limited because SPF authentication didn't pass for this message. gsmtp", 'policy'],
  ["421-4.7.30 Your email has been rate limited because DKIM authentication didn't pass for this message. gsmtp", 'policy'],
  ["421-4.7.32 Your email has been rate limited because the From: header (RFC5322) in this message isn't aligned with either the authenticated SPF or DKIM organizational domain. gsmtp", 'policy'],
  ["550-5.7.1 [192.0.2.25] The IP you're using to send mail is not authorized to send email directly to our servers. Please use the SMTP relay at your service provider instead. gsmtp", 'reputation', 'Gmail'],
  ["552-5.2.3 Your message exceeded Google's message size limits. gsmtp", 'too_large'],
  ['552-5.7.0 This message was blocked because its content presents a potential security issue. gsmtp', 'content'],
  ['535-5.7.8 Username and Password not accepted. gsmtp', 'relay_denied'],
  // Microsoft.
  ['451 4.7.650 The mail server [192.0.2.25] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775)', 'rate_limit', 'Microsoft'],
  ['550 5.7.511 Access denied, banned sender[192.0.2.25]. To request removal from this list please forward this message to delist@messaging.microsoft.com.', 'blocklist', 'Microsoft'],
  ['550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.', 'reputation', 'Microsoft'],
  ["550 SC-001 (BAY004-MC3F5) Unfortunately, messages from 192.0.2.25 weren't sent. Please contact your Internet service provider since part of their network is on our block list.", 'blocklist', 'Microsoft'],
  ['530 5.7.57 Client not authenticated to send mail. [AM0PR02CA0001.eurprd02.prod.outlook.com]', 'relay_denied'],
  ['552 5.3.4 Message size exceeds fixed maximum message size', 'too_large'],
  ['550 5.7.1 Message rejected as spam by Content Filtering.', 'content'],
  // Yahoo.
  ['421 4.7.0 [TSS09] All messages from 192.0.2.25 will be permanently deferred; Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes', 'reputation', 'Yahoo'],
  ["553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.25, because the ip is in Spamhaus's list; see https://postmaster.yahooinc.com/error-codes", 'blocklist', 'Spamhaus'],
  // Mimecast.
  ['451 Internal resource temporarily unavailable - https://community.mimecast.com/docs/DOC-1369#451', 'greylist'],
  ['421 Sender address blocked - https://community.mimecast.com/docs/DOC-1369#421', 'blocklist', 'Mimecast'],
  ['554 Email rejected due to security policies - https://community.mimecast.com/docs/DOC-1369#554', 'content'],
  // Proofpoint, and a next hop that will not relay for us.
  ['554 5.7.0 Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.25', 'blocklist', 'Proofpoint'],
  ['554 5.7.1 <bob@example.org>: Relay access denied', 'relay_denied'],
  ['550 5.7.1 Unable to relay', 'relay_denied'],
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

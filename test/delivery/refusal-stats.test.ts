// Remote refusals classified and counted (issue 19 item 3) over a real
// socket: an smtp-server upstream answers each recipient with a published
// provider reply; the runner's events feed RefusalStats through
// forwardDeliveryEvents, as serve wires it for /api/status, /metrics and the
// dashboard's "our address is listed" banner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSpool } from '../../src/spool/spool.ts';
import { startQueueRunner } from '../../src/delivery/queue-runner.ts';
import { DeferralTracker, forwardDeliveryEvents } from '../../src/delivery/delivery-events.ts';
import { RefusalStats } from '../../src/delivery/refusal-stats.ts';
import { DeliveryLog } from '../../src/observability/delivery-log.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { envelope, rfc822, tempDir, testConfig } from '../helpers/spool-fixtures.ts';
import { waitFor } from '../helpers/wait-for.ts';

const logger = silentLogger();
const REPLIES: Record<string, string> = {
  'a@one.test': '554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/127.0.0.1',
  'b@two.test': '554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org',
  'c@three.test': "550 5.7.1 Unfortunately, messages from [127.0.0.1] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).",
  'd@four.test': '450 4.2.0 <d@four.test>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/four.test.html',
  'e@five.test': '552 5.2.2 Mailbox full',
  'f@six.test': '550 5.1.1 <f@six.test>: Recipient address rejected: User unknown in virtual mailbox table',
  'g@seven.test': '450 4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered. gsmtp',
  'h@eight.test': '530 5.7.0 Must issue a STARTTLS command first',
};

test('an upstream answering each refusal class: counts per class and domain, and the block lists that name us', async (t) => {
  const dir = await tempDir(t);
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  for (const [rcpt, reply] of Object.entries(REPLIES)) sink.rcptReply(rcpt, reply);
  const spool = await openSpool({ dir, logger });
  const runner = startQueueRunner({ spool, config: testConfig(dir, `mode = "smarthost"\nretry_schedule = ["1h"]\n[delivery.smarthost]\nhosts = ["${sink.address}"]`), logger, control: false });
  const refusals = new RefusalStats();
  forwardDeliveryEvents(runner, new DeliveryLog(), new DeferralTracker(), () => Date.now(), refusals);
  t.after(async () => {
    await runner.stop(1000);
    await spool.close();
  });
  await spool.accept(envelope({ sender: '', recipients: Object.keys(REPLIES) }), rfc822('refused'));
  await waitFor(() => refusals.summary().byClass.reduce((n, c) => n + c.count, 0) === Object.keys(REPLIES).length, 10_000, () => `every recipient classified: ${JSON.stringify(refusals.summary().byClass)}`);
  const summary = refusals.summary();
  const byClass = Object.fromEntries(summary.byClass.map((c) => [c.class, c.count]));
  assert.deepEqual(byClass, { blocklist: 3, greylist: 1, mailbox_full: 1, recipient_unknown: 1, rate_limit: 1, tls_required: 1 });
  assert.deepEqual(summary.byDomain.find((d) => d.domain === 'four.test'), { domain: 'four.test', class: 'greylist', count: 1 });
  const spamhaus = summary.listings.find((l) => l.list === 'Spamhaus');
  assert.equal(spamhaus?.replies, 2);
  assert.equal(spamhaus?.domains, 2);
  assert.equal(summary.listings.find((l) => l.list === 'Microsoft')?.class, 'blocklist');
  assert.equal(summary.listings.find((l) => l.list === 'Gmail')?.class, 'rate_limit');
});

const MORE_REPLIES: Record<string, string> = {
  'a@ptr.test': "550-5.7.25 The IP address sending this message does not have a PTR record setup, or the corresponding forward DNS entry does not point to the sending IP. As a policy, Gmail does not accept messages from IPs with missing PTR records. gsmtp",
  'b@tls.test': "421-4.7.29 Your email has been rate limited because this message wasn't sent over a TLS connection. Gmail requires all bulk email senders to use TLS/SSL for SMTP connections. gsmtp",
  'c@spf.test': "421-4.7.27 Your email has been rate limited because SPF authentication didn't pass for this message. gsmtp",
  'd@big.test': '552 5.3.4 Message size exceeds fixed maximum message size',
  'e@spam.test': '550 5.7.1 Message rejected as spam by Content Filtering.',
  'f@relay.test': '554 5.7.1 <f@relay.test>: Relay access denied',
  'g@ms.test': '451 4.7.650 The mail server [127.0.0.1] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775)',
};

test('an upstream answering the classes added later: reverse DNS, Gmail causes before rates, size, content, relay', async (t) => {
  const dir = await tempDir(t);
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  for (const [rcpt, reply] of Object.entries(MORE_REPLIES)) sink.rcptReply(rcpt, reply);
  const spool = await openSpool({ dir, logger });
  const runner = startQueueRunner({ spool, config: testConfig(dir, `mode = "smarthost"\nretry_schedule = ["1h"]\n[delivery.smarthost]\nhosts = ["${sink.address}"]`), logger, control: false });
  const refusals = new RefusalStats();
  forwardDeliveryEvents(runner, new DeliveryLog(), new DeferralTracker(), () => Date.now(), refusals);
  t.after(async () => {
    await runner.stop(1000).catch(() => undefined);
    await spool.close().catch(() => undefined);
  });
  await spool.accept(envelope({ sender: '', recipients: Object.keys(MORE_REPLIES) }), rfc822('refused'));
  await waitFor(() => refusals.summary().byClass.reduce((n, c) => n + c.count, 0) === Object.keys(MORE_REPLIES).length, 10_000, () => `every recipient classified: ${JSON.stringify(refusals.summary().byClass)}`);
  const summary = refusals.summary();
  assert.deepEqual(Object.fromEntries(summary.byClass.map((c) => [c.class, c.count])), { reverse_dns: 1, tls_required: 1, policy: 1, too_large: 1, content: 1, relay_denied: 1, rate_limit: 1 });
  assert.deepEqual(summary.listings.map((l) => [l.class, l.list]).sort(), [['rate_limit', 'Microsoft'], ['reverse_dns', 'Gmail']]);
});

test('RefusalStats: local failures (no reply code) are not counted', () => {
  const stats = new RefusalStats();
  stats.record('x.test', 'connect to mx.x.test[192.0.2.1]:25: ECONNREFUSED', 1);
  assert.deepEqual(stats.summary(), { byClass: [], byDomain: [], listings: [] });
});

test('RefusalStats: listings age out after the listing window; counts are over the window, totals since start', () => {
  const HOUR = 3_600_000;
  let now = 10 * HOUR;
  let window = 24 * HOUR;
  const stats = new RefusalStats({ now: () => now, window: () => window });
  const spamhaus = '554 5.7.1 Service unavailable; Client host [192.0.2.25] blocked using zen.spamhaus.org';
  const listing = () => stats.summary().listings.find((l) => l.list === 'Spamhaus');
  stats.record('one.test', spamhaus, now);
  stats.record('two.test', spamhaus, now);
  now += 12 * HOUR;
  stats.record('three.test', spamhaus, now);
  assert.deepEqual([listing()?.replies, listing()?.domains], [3, 3]);

  // 25 h after the first two replies: only the third one counts.
  now += 13 * HOUR;
  assert.deepEqual([listing()?.replies, listing()?.domains, listing()?.lastAt], [1, 1, 22 * HOUR]);
  // Not seen for a whole window: gone from the banner, still in the totals.
  now = 22 * HOUR + window;
  assert.equal(listing()?.replies, 1, 'the window includes its last millisecond');
  now += 1;
  assert.equal(listing(), undefined);
  assert.deepEqual(stats.summary().byClass, [{ class: 'blocklist', count: 3 }]);

  // Seen again: back, counting from the new reply; a reloaded (shorter) window applies at once.
  stats.record('four.test', spamhaus, now);
  assert.deepEqual([listing()?.replies, listing()?.domains], [1, 1]);
  window = HOUR;
  now += HOUR + 1;
  assert.equal(listing(), undefined);
});

test('RefusalStats: a count may include up to one slice (1/24 of the window) beyond it, never less than the window', () => {
  const HOUR = 3_600_000;
  let now = 0;
  const stats = new RefusalStats({ now: () => now, window: () => 24 * HOUR });
  const reply = '550 5.7.1 Service unavailable; Client host [192.0.2.25] blocked using b.barracudacentral.org';
  // One reply a minute for two days.
  for (let minute = 0; minute < 48 * 60; minute++) {
    now = minute * 60_000;
    stats.record(`d${minute % 50}.test`, reply, now);
  }
  const replies = stats.summary().listings[0]?.replies ?? 0;
  assert.ok(replies >= 24 * 60 && replies <= 25 * 60, `replies within 24..25 h of the window: ${replies}`);
});

test('RefusalStats: missing reverse DNS is about our address (banner); a too-large message or relay refusal is not', () => {
  const stats = new RefusalStats({ now: () => 5 });
  stats.record('gmail.com', "550-5.7.25 The IP address sending this message does not have a PTR record setup, or the corresponding forward DNS entry does not point to the sending IP. gsmtp", 1);
  stats.record('example.net', '450 4.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.25]', 2);
  stats.record('example.org', '552 5.3.4 Message size exceeds fixed maximum message size', 3);
  stats.record('smarthost.test', '554 5.7.1 <bob@example.org>: Relay access denied', 4);
  const { listings, byClass } = stats.summary();
  assert.deepEqual(listings.map((l) => [l.class, l.list, l.replies]).sort(), [['reverse_dns', 'Gmail', 1], ['reverse_dns', 'remote servers', 1]]);
  assert.deepEqual(Object.fromEntries(byClass.map((c) => [c.class, c.count])), { reverse_dns: 2, too_large: 1, relay_denied: 1 });
});

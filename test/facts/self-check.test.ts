// The DNSBL self-check of our own outbound addresses (issue 19 item 3), end to
// end: the whole relay with [self_check] addresses and a dnsbl.toml whose
// zones live on the test DNS server (loopback). Listed, not listed, timeout
// and SERVFAIL (unknown, never listed) show in /api/status and /metrics, the
// listing is logged when it appears and when it clears, and a cleared listing
// leaves the status the dashboard's banner is drawn from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { HARNESS_LISTENERS, startHarness } from '../helpers/relay-harness.ts';
import { request } from '../helpers/dashboard-fixture.ts';
import { waitFor } from '../helpers/wait-for.ts';
import type { StatusDocument } from '../../src/http/status.ts';

const TOKEN = 'self-check-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const LISTED = '192.0.2.25';
const SILENT = '198.51.100.9';
const ZONES = ['bl.test', 'two.test'];

const reversed = (ip: string): string => ip.split('.').reverse().join('.');

/** The RFC 5782 test entry of each zone (the start-up probe), and our address listed in bl.test. */
function records(dns: TestDnsServer, listed: boolean): void {
  for (const zone of [...ZONES, 'wl.test']) dns.add({ name: `2.0.0.127.${zone}`, type: 'A', data: '127.0.0.2', ttl: 0 });
  if (listed) {
    dns.add({ name: `${reversed(LISTED)}.bl.test`, type: 'A', data: '127.0.0.2', ttl: 0 });
    dns.add({ name: `${reversed(LISTED)}.bl.test`, type: 'TXT', data: 'Listed: see https://bl.test/q', ttl: 0 });
  }
  // On an allow list: good news, not a listing; the self-check does not ask it.
  dns.add({ name: `${reversed(LISTED)}.wl.test`, type: 'A', data: '127.0.10.2', ttl: 0 });
}

test('self-check: listed, not listed, timeout and SERVFAIL in /api/status and /metrics; the listing clears', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close().catch(() => undefined));
  records(dns, true);
  dns.timeout(`${reversed(SILENT)}.bl.test`);
  dns.servfail(`${reversed(SILENT)}.two.test`);
  const harness = await startHarness({
    deliveryWorker: false,
    config: `${HARNESS_LISTENERS.replace('[http]\naddress = "127.0.0.1:0"', `[http]\naddress = "127.0.0.1:0"\ntoken = "${TOKEN}"`)}
[dns]
servers = ["${dns.address}"]
timeout = "1s"
tries = 1
[self_check]
addresses = ["${LISTED}", "${SILENT}"]
interval = "1h"
`,
    policies: {
      'dnsbl.toml': `threshold = 1\n[cache]\nmin_ttl = "0"\nnegative_ttl = "0"\n[health]\nfailures_to_suspend = 100\n${ZONES.map((z) => `[[zones]]\nzone = "${z}"\n`).join('')}[[zones]]\nzone = "wl.test"\nweight = -1\n`,
    },
  });
  t.after(() => harness.stop().catch(() => undefined));
  const http = harness.relay.http;
  assert.ok(http);
  const base = `http://127.0.0.1:${http.port}`;
  const status = async (): Promise<StatusDocument> => JSON.parse((await request(`${base}/api/status`, { headers: auth })).body) as StatusDocument;
  const metrics = async (): Promise<string> => (await request(`${base}/metrics`, { headers: auth })).body;

  // The first run starts with the relay.
  await waitFor(async () => {
    const s = (await status()).selfCheck;
    return s !== null && !('error' in s) && s.lastRunAt !== null;
  }, 10_000, 'the first self-check run');
  const first = (await status()).selfCheck;
  assert.ok(first && !('error' in first));
  assert.equal(first.enabled, true);
  const state = (address: string, zone: string) => first.results.find((r) => r.address === address && r.zone === zone);
  assert.deepEqual([first.results.length, first.results.some((r) => r.zone === 'wl.test')], [4, false]);
  assert.equal(state(LISTED, 'bl.test')?.state, 'listed');
  assert.deepEqual(state(LISTED, 'bl.test')?.codes, ['127.0.0.2']);
  assert.match(state(LISTED, 'bl.test')?.text ?? '', /bl\.test\/q/);
  assert.equal(state(LISTED, 'two.test')?.state, 'clean');
  assert.deepEqual([state(SILENT, 'bl.test')?.state, state(SILENT, 'bl.test')?.problem], ['unknown', 'timeout']);
  assert.deepEqual([state(SILENT, 'two.test')?.state, state(SILENT, 'two.test')?.problem], ['unknown', 'servfail']);

  const text = await metrics();
  assert.match(text, new RegExp(`^relayguard_self_listed\\{zone="bl.test",address="${LISTED}"\\} 1$`, 'm'));
  assert.match(text, new RegExp(`^relayguard_self_listed\\{zone="two.test",address="${LISTED}"\\} 0$`, 'm'));
  assert.doesNotMatch(text, new RegExp(`relayguard_self_listed\\{[^}]*address="${SILENT}"`), 'an unknown answer has no series');
  assert.match(text, /^relayguard_self_check_unknown 2$/m);
  const listedLogs = harness.logs.filter((l) => l.event === 'self_check.listed');
  assert.deepEqual(listedLogs.map((l) => [l.address, l.zone, l.level]), [[LISTED, 'bl.test', 40]]);

  // Delisted: the next run clears it, logs it once, and nothing listed remains for the banner.
  dns.clear();
  records(dns, false);
  const changes = await harness.relay.selfCheck.runOnce();
  assert.deepEqual(changes.map((c) => [c.kind, c.entry.address, c.entry.zone]), [['cleared', LISTED, 'bl.test']]);
  const after = (await status()).selfCheck;
  assert.ok(after && !('error' in after));
  assert.deepEqual(after.results.filter((r) => r.state === 'listed'), []);
  assert.equal(after.results.find((r) => r.address === LISTED && r.zone === 'bl.test')?.state, 'clean');
  assert.match(await metrics(), new RegExp(`^relayguard_self_listed\\{zone="bl.test",address="${LISTED}"\\} 0$`, 'm'));
  assert.deepEqual(harness.logs.filter((l) => l.event === 'self_check.cleared').map((l) => [l.address, l.zone]), [[LISTED, 'bl.test']]);
  assert.equal(harness.logs.filter((l) => l.event === 'self_check.listed').length, 1);
});

test('self-check: without addresses it is off and says why; nothing is asked', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close().catch(() => undefined));
  records(dns, true);
  const harness = await startHarness({
    deliveryWorker: false,
    config: `${HARNESS_LISTENERS.replace('[http]\naddress = "127.0.0.1:0"', `[http]\naddress = "127.0.0.1:0"\ntoken = "${TOKEN}"`)}
[dns]
servers = ["${dns.address}"]
`,
    policies: { 'dnsbl.toml': 'threshold = 1\n[[zones]]\nzone = "bl.test"\n' },
  });
  t.after(() => harness.stop().catch(() => undefined));
  const off = harness.logs.find((l) => l.event === 'self_check.off');
  assert.match(String(off?.msg), /no \[self_check\] addresses/);
  const s = JSON.parse((await request(`http://127.0.0.1:${harness.relay.http?.port}/api/status`, { headers: auth })).body) as StatusDocument;
  assert.deepEqual(s.selfCheck, { enabled: false, addresses: [], intervalMs: 1_800_000, lastRunAt: null, results: [] });
  assert.equal(dns.queries(`${reversed(LISTED)}.bl.test`), 0);
});

// Issue 16 item 5 over the wire, with the sender-domain check on and the test
// DNS server counting every query: an RFC 6761 special-use sender domain
// (localhost, invalid, names under them) from an outside client gets a
// permanent 550 5.7.1 and not a single DNS query; a sender in one of our local
// domains is accepted without a query; a relay-network client may use
// root@localhost. A foreign sender domain is still looked up (the control that
// proves the counting works).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HARNESS_LISTENERS, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { codeOf, openSession } from '../helpers/e2e-relay-client.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';

const OUTSIDE = '127.0.0.3';
const OFFICE = '127.0.0.1'; // relay-networks

describe('special-use and local sender domains over the wire (issue 16 item 5)', () => {
  let dns: TestDnsServer;
  let harness: RelayHarness;

  before(async () => {
    dns = await startDnsServer();
    dns.add({ name: 'outside.test', type: 'MX', data: { preference: 10, exchange: 'mx.outside.test' } });
    harness = await startHarness({
      config: `${HARNESS_LISTENERS}\n[dns]\nservers = ["${dns.address}"]\ntimeout = "1s"\ntries = 2\n`,
      policies: {
        'local-domains': 'example.test\n',
        'relay-networks': `${OFFICE}\n`,
        'checks.toml': '[sender_domain]\nreject_unknown = true\non_dns_error = "defer"\n',
      },
    });
  });

  after(async () => {
    await harness?.stop();
    await dns?.close();
  });

  async function mailFrom(client: string, sender: string): Promise<string> {
    const talk = await openSession({ port: harness.port('mx'), from: client });
    try {
      const reply = await talk.command(`MAIL FROM:<${sender}>`);
      return `${codeOf(reply)} ${reply.lines[0] ?? ''}`;
    } finally {
      talk.close();
    }
  }

  it('refuses localhost, invalid and names under them from outside with 550 5.7.1, asking DNS nothing', async () => {
    dns.resetCounts();
    for (const sender of ['postmaster@localhost', 'Root@LOCALHOST.', 'a@mail.localhost', 'a@invalid', 'bounce@relay.example.invalid']) {
      const reply = await mailFrom(OUTSIDE, sender);
      assert.match(reply, /^550 5\.7\.1 .*special-use domain/, `${sender}: ${reply}`);
    }
    assert.equal(dns.queries(), 0, 'no DNS query for a special-use sender domain');
    const decisions = harness.logs.filter((l) => l.stage === 'mail' && l.client === OUTSIDE && l.decision === 'reject');
    assert.ok(decisions.length >= 5 && decisions.every((l) => l.rule === 'special-use-sender' && l.reason === 'mail.special_use_domain'));
  });

  it('accepts a sender in a local domain from outside without a DNS query', async () => {
    dns.resetCounts();
    assert.match(await mailFrom(OUTSIDE, 'ceo@example.test'), /^250 /);
    assert.match(await mailFrom(OUTSIDE, 'CEO@Example.Test.'), /^250 /);
    assert.equal(dns.queries(), 0, 'no DNS query for one of our own domains');
  });

  it('lets a relay-network client send as root@localhost, without a DNS query', async () => {
    dns.resetCounts();
    assert.match(await mailFrom(OFFICE, 'root@localhost'), /^250 /);
    assert.equal(dns.queries(), 0);
  });

  it('control: a foreign sender domain is still looked up (and a missing one refused)', async () => {
    dns.resetCounts();
    assert.match(await mailFrom(OUTSIDE, 'someone@outside.test'), /^250 /);
    assert.ok(dns.queries('outside.test') >= 1, 'the MX lookup reached the test DNS server');
    assert.match(await mailFrom(OUTSIDE, 'someone@nowhere.test'), /^550 5\.1\.8 /);
    assert.ok(dns.queries('nowhere.test') >= 1);
  });
});

// `relayguard explain` (a child process, as an administrator runs it) against
// the test DNS server: it asks the same zones through the same providers as
// `serve`, and prints the DNSBL refusal with the rule, reason and zone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDnsServer } from '../helpers/dns-server.ts';
import { makeTestConfig, DEFAULT_LISTENERS } from '../helpers/test-config.ts';
import { usersToml } from '../helpers/auth-fixtures.ts';
import { runBin } from '../helpers/cli-run.ts';

const explain = (args: readonly string[]) => runBin(['explain', ...args]);


test('explain --ip of a listed client prints the DNSBL refusal naming the zone; a clean one is accepted', async (t) => {
  const dns = await startDnsServer();
  dns.add({ name: '2.0.0.127.bl.test', type: 'A', data: '127.0.0.2' });
  // The sender's domain must resolve (checks.toml sender_domain, on by default).
  dns.add({ name: 'sender.test', type: 'MX', data: { preference: 10, exchange: 'mx.sender.test' } });
  const alice = { name: 'alice@example.test', password: 'alice-explain-pw', senders: ['alice@example.test'] };
  const dir = await makeTestConfig(`${DEFAULT_LISTENERS}\n[dns]\nservers = ["${dns.address}"]\ntimeout = "1s"\ntries = 1\n`, {
    'local-domains': 'example.test\n',
    'users.toml': await usersToml([alice]),
    'dnsbl.toml': 'threshold = 1\ncheck_private_clients = true\n\n[[zones]]\nzone = "bl.test"\ntxt = false\n',
  });
  t.after(async () => {
    await dir.cleanup();
    await dns.close();
  });
  const common = ['--config', dir.configFile, '--from', 'someone@sender.test', '--rcpt', 'bob@example.test'];

  const listed = await explain(['--ip', '127.0.0.2', ...common]);
  assert.equal(listed.code, 1, listed.stderr); // refused: exit 1 (issue 22)
  const row = listed.stdout.split('\n').find((line) => line.startsWith('rcpt'));
  assert.ok(row, listed.stdout);
  assert.match(row, /\breject\s+dnsbl\s+dnsbl\.listed\s+554 5\.7\.1 Service unavailable; client \[127\.0\.0\.2\] blocked using bl\.test$/);
  assert.match(listed.stdout, /^accepted 0 of 1 recipient\(s\)$/m);
  assert.equal(dns.queries('2.0.0.127.bl.test', 'A'), 1, 'explain asked the zone');

  const json = await explain(['--ip', '127.0.0.2', '--json', ...common]);
  assert.equal(json.code, 1, json.stderr); // refused: exit 1 (issue 22)
  const doc = JSON.parse(json.stdout) as { stages: Array<{ stage: string; verdict?: string; rule?: string; reason?: string; reply?: string }>; refused: string[] };
  const rcpt = doc.stages.find((s) => s.stage === 'rcpt');
  assert.deepEqual(
    { verdict: rcpt?.verdict, rule: rcpt?.rule, reason: rcpt?.reason, reply: rcpt?.reply },
    { verdict: 'reject', rule: 'dnsbl', reason: 'dnsbl.listed', reply: '554 5.7.1 Service unavailable; client [127.0.0.2] blocked using bl.test' },
  );
  assert.deepEqual(doc.refused, ['bob@example.test']);

  const clean = await explain(['--ip', '127.0.0.4', ...common]);
  assert.equal(clean.code, 0, clean.stderr);
  assert.match(clean.stdout, /^accepted 1 of 1 recipient\(s\)$/m);
  assert.equal(dns.queries('4.0.0.127.bl.test', 'A'), 1);

  // An authenticated user is not looked up by explain either, as by serve.
  const user = await explain(['--ip', '127.0.0.2', '--user', alice.name, '--config', dir.configFile, '--from', alice.name, '--rcpt', 'someone@foreign.test']);
  assert.equal(user.code, 0, user.stderr);
  assert.match(user.stdout, /^accepted 1 of 1 recipient\(s\)$/m);
  assert.equal(dns.queries('2.0.0.127.bl.test', 'A'), 2, 'no new query for the authenticated session');
});

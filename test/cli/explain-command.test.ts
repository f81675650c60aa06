// `relayguard explain` through its real wiring (runExplainCommand: the real
// policy loader and the real fact providers, DNSBL lookups against a test DNS
// server) on a real config directory, for allowed and refused sessions.
// Through bin/relayguard.js as a child process (and `relayguard check` so):
// bin.slow.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runExplainCommand } from '../../src/cli/explain-command.ts';
import { captureIo } from '../helpers/cli-run.ts';
import { explainFixture, type StageJson } from '../helpers/explain-fixture.ts';
import type { TestConfigDir } from '../helpers/test-config.ts';

async function explainJson(dir: TestConfigDir, args: string[]): Promise<{ stages: StageJson[]; accepted: string[]; refused: string[]; notes: string[] }> {
  const { io, out, err } = captureIo();
  const code = await runExplainCommand([...args, '--json', '--config', dir.configFile], io);
  const report = JSON.parse(out()) as { stages: StageJson[]; accepted: string[]; refused: string[]; notes: string[] };
  // Exit 0 only when every recipient would be accepted, 1 when anything refuses (issue 22).
  const recipients = args.filter((arg) => arg === '--rcpt').length;
  assert.equal(code, report.accepted.length === recipients ? 0 : 1, err());
  return report;
}

test('explain: an allowed local delivery and a refused relay attempt from outside (table output)', async (t) => {
  const { dir } = await explainFixture(t);
  const { io, out, err } = captureIo();
  const code = await runExplainCommand(
    ['--ip', '192.0.2.10', '--helo', 'mail.other.example', '--from', 'someone@other.example', '--rcpt', 'User@Example.Test.', '--rcpt', 'victim@foreign.test', '--config', dir.configFile],
    io,
  );
  assert.equal(code, 1, err()); // one of two recipients refused: exit 1 (issue 22)
  const lines = out().split('\n');
  const row = (stage: string, input: string): string => lines.find((l) => l.startsWith(stage) && l.includes(input)) ?? `(no ${stage} row for ${input})`;
  assert.match(lines[0] ?? '', /^client 192\.0\.2\.10 on listener mx \(mx\), policy generation 1$/);
  assert.match(row('connect', '192.0.2.10'), /\bpermit\b/);
  assert.match(row('rcpt', 'User@Example.Test.'), /permit\s+local-domains\s+rcpt\.local_domain/);
  assert.match(row('rcpt', 'victim@foreign.test'), /reject\s+reject-relay\s+relay\.denied\s+554 5\.7\.1 <victim@foreign\.test>: Relay access denied/);
  assert.ok(lines.includes('accepted 1 of 2 recipient(s)'), out());
  assert.ok(!out().includes('facts not gathered'), 'the real fact providers were wired in');
});

test('explain --json: a trick, a DNSBL listing (real DNS query), the denylist, and a relay-network client', async (t) => {
  const { dir, dns } = await explainFixture(t);

  const trick = await explainJson(dir, ['--ip', '192.0.2.10', '--from', '<>', '--rcpt', 'user%foreign.test@example.test', '--rcpt', '@example.test:user@foreign.test']);
  const [percent, route] = trick.stages.filter((s) => s.stage === 'rcpt');
  assert.deepEqual([percent?.verdict, percent?.rule, percent?.reason], ['reject', 'strict-address', 'rcpt.percent_hack']);
  assert.match(percent?.reply ?? '', /^550 5\.7\.1 /);
  assert.deepEqual([route?.verdict, route?.reason], ['reject', 'rcpt.source_route']);
  assert.deepEqual(trick.accepted, []);

  const listed = await explainJson(dir, ['--ip', '192.0.2.66', '--from', 'a@other.example', '--rcpt', 'user@example.test']);
  const rcpt = listed.stages.find((s) => s.stage === 'rcpt');
  assert.equal(rcpt?.reason, 'dnsbl.listed');
  assert.equal(rcpt?.reply, '554 5.7.1 Service unavailable; client [192.0.2.66] blocked using bl.test');
  assert.ok(dns.queries('66.2.0.192.bl.test', 'A') >= 1, 'explain asked the DNS server');

  const clean = await explainJson(dir, ['--ip', '192.0.2.10', '--from', 'a@other.example', '--rcpt', 'user@example.test']);
  assert.deepEqual(clean.accepted, ['user@example.test']);
  assert.ok(dns.queries('10.2.0.192.bl.test', 'A') >= 1);

  const denied = await explainJson(dir, ['--ip', '203.0.113.9', '--from', 'a@other.example', '--rcpt', 'user@example.test']);
  assert.deepEqual([denied.stages[0]?.stage, denied.stages[0]?.rule, denied.stages[0]?.reply], ['connect', 'denylist', '554 5.7.1 known spam source']);
  assert.deepEqual(denied.stages.slice(1).map((s) => s.status), ['skipped', 'not_reached', 'not_reached']);

  const office = await explainJson(dir, ['--ip', '127.0.0.1', '--from', 'a@example.test', '--rcpt', 'x@foreign.test']);
  assert.equal(office.stages.find((s) => s.stage === 'rcpt')?.reason, 'relay.trusted_network');
  assert.deepEqual(office.accepted, ['x@foreign.test']);
});

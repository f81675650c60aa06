// `relayguard explain` through its real wiring (runExplainCommand: the real
// policy loader and the real fact providers, DNSBL lookups against a test DNS
// server) on a real config directory, for allowed and refused sessions; and
// `relayguard check` on a broken policy file as a child process (real exit
// code and stderr).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { runExplainCommand } from '../../src/cli/explain-command.ts';
import { DEFAULT_LISTENERS, makeTestConfig, type TestConfigDir } from '../helpers/test-config.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { captureIo } from '../helpers/cli-run.ts';

const BIN = path.resolve('bin/relayguard.js');
const run = promisify(execFile);

const POLICIES = {
  'local-domains': 'example.test\n',
  'relay-networks': '127.0.0.1\n',
  denylist: '203.0.113.0/24   known spam source\n',
  'dnsbl.toml': 'threshold = 1\ncheck_private_clients = true\n\n[[zones]]\nzone = "bl.test"\n',
};


async function setup(t: { after: (fn: () => Promise<void>) => void }): Promise<{ dir: TestConfigDir; dns: TestDnsServer }> {
  const dns = await startDnsServer();
  // 192.0.2.66 is listed by bl.test; every other client is not (NXDOMAIN).
  dns.add({ name: '66.2.0.192.bl.test', type: 'A', data: '127.0.0.2' });
  // The sender's domain must resolve (checks.toml sender_domain, on by default).
  dns.add({ name: 'other.example', type: 'MX', data: { preference: 10, exchange: 'mx.other.example' } });
  const dir = await makeTestConfig(`${DEFAULT_LISTENERS}\n[dns]\nservers = ["${dns.address}"]\ntimeout = "1s"\ntries = 2\n`, POLICIES);
  t.after(async () => {
    await dir.cleanup();
    await dns.close();
  });
  return { dir, dns };
}

interface StageJson {
  stage: string;
  input: string;
  status: string;
  verdict?: string;
  rule?: string;
  reason?: string;
  reply?: string | null;
}

async function explainJson(dir: TestConfigDir, args: string[]): Promise<{ stages: StageJson[]; accepted: string[]; refused: string[]; notes: string[] }> {
  const { io, out, err } = captureIo();
  const code = await runExplainCommand([...args, '--json', '--config', dir.configFile], io);
  assert.equal(code, 0, err());
  return JSON.parse(out()) as { stages: StageJson[]; accepted: string[]; refused: string[]; notes: string[] };
}

test('explain: an allowed local delivery and a refused relay attempt from outside (table output)', async (t) => {
  const { dir } = await setup(t);
  const { io, out, err } = captureIo();
  const code = await runExplainCommand(
    ['--ip', '192.0.2.10', '--helo', 'mail.other.example', '--from', 'someone@other.example', '--rcpt', 'User@Example.Test.', '--rcpt', 'victim@foreign.test', '--config', dir.configFile],
    io,
  );
  assert.equal(code, 0, err());
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
  const { dir, dns } = await setup(t);

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

test('`relayguard explain` through bin/relayguard.js: exit 0 and the decision', async (t) => {
  const { dir } = await setup(t);
  const { stdout } = await run(process.execPath, [BIN, 'explain', '--ip', '192.0.2.10', '--from', 'a@other.example', '--rcpt', 'v@foreign.test', '--json', '--config', dir.configFile], { timeout: 60_000 });
  const report = JSON.parse(stdout) as { refused: string[]; stages: StageJson[] };
  assert.deepEqual(report.refused, ['v@foreign.test']);
  assert.equal(report.stages.find((s) => s.stage === 'rcpt')?.reason, 'relay.denied');
});

test('`relayguard check` on a broken policy file: exit 1 and file:line for every problem; fixed: exit 0', async (t) => {
  const { dir } = await setup(t);
  await dir.writePolicy('relay-networks', '127.0.0.1\nnot-a-network\n');
  await dir.writePolicy('denylist', '# comment\n\n192.0.2.7/24   host bits set\n');
  const failed = await run(process.execPath, [BIN, 'check', '--config', 'config.toml'], { cwd: dir.dir, timeout: 60_000 }).then(
    () => assert.fail('check exited 0 on a broken file'),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
  assert.equal(failed.code, 1);
  const lines = failed.stderr.trim().split('\n');
  assert.ok(lines.some((l) => l.startsWith('policies/relay-networks:2: ')), failed.stderr);
  assert.ok(lines.some((l) => l.startsWith('policies/denylist:3: ')), failed.stderr);
  assert.match(lines.at(-1) ?? '', /^check failed: 2 problems/);
  assert.equal(failed.stdout, '');

  await dir.writePolicy('relay-networks', '127.0.0.1\n');
  await dir.writePolicy('denylist', '192.0.2.7/32   host\n');
  const ok = await run(process.execPath, [BIN, 'check', '--config', dir.configFile], { timeout: 60_000 });
  assert.match(ok.stdout, /^ok .*config\.toml: /);
});

// `relayguard explain` through runExplain with a captured io: a real config
// file in a temp directory, the real engine, policy lists from the test
// snapshot factory, and facts from an injected gatherer.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runExplain, type ExplainDeps } from '../../src/cli/explain.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { Stage } from '../../src/policy/decision.ts';
import type { Facts } from '../../src/policy/facts.ts';
import { BASE_CONFIG, dnsblFacts, testSnapshot } from '../helpers/policy-snapshot.ts';
import { captureIo } from '../helpers/cli-run.ts';


describe('relayguard explain', () => {
  let dir: string;
  let configFile: string;
  let deps: ExplainDeps;
  const gathered: Stage[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-explain-'));
    configFile = path.join(dir, 'config.toml');
    await writeFile(configFile, BASE_CONFIG);
    deps = {
      loadSnapshot: async (file) =>
        testSnapshot({ config: await loadConfig(file), users: [{ name: 'alice', senders: ['alice@example.test'] }] }),
      gatherFacts: async (stage, ctx): Promise<Facts> => {
        gathered.push(stage);
        // The zone lists 192.0.2.66 only, as a DNS answer would.
        return stage === 'rcpt' && ctx.clientIp === '192.0.2.66' ? { dnsbl: dnsblFacts('192.0.2.66', [['zen.example', 1]]) } : {};
      },
    };
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('explains an allowed local delivery and a refused relay attempt (table)', async () => {
    const { io, out } = captureIo();
    const code = await runExplain(
      ['--ip', '192.0.2.200', '--helo', 'mail.other.example', '--from', 'someone@other.example', '--rcpt', 'User@Example.Test.', '--rcpt', 'victim@foreign.test', '--config', configFile],
      io,
      deps,
    );
    assert.equal(code, 1); // one recipient refused: exit 1 (issue 22)
    const lines = out().split('\n');
    const row = (stage: string, input: string) => lines.find((l) => l.startsWith(stage) && l.includes(input)) ?? '';
    assert.match(row('connect', '192.0.2.200'), /permit\s+default\s+ok/);
    assert.match(row('helo', 'mail.other.example'), /permit/);
    assert.match(row('mail', 'someone@other.example'), /permit/);
    assert.match(row('rcpt', 'User@Example.Test. -> <User@example.test>'), /permit\s+local-domains\s+rcpt\.local_domain/);
    assert.match(row('rcpt', 'victim@foreign.test'), /reject\s+reject-relay\s+relay\.denied\s+554 5\.7\.1 <victim@foreign\.test>: Relay access denied/);
    assert.ok(lines.includes('accepted 1 of 2 recipient(s)'));
    assert.deepEqual(gathered.slice(-5), ['connect', 'helo', 'mail', 'rcpt', 'rcpt']);
  });

  it('explains a trick and a DNSBL refusal (--json)', async () => {
    const { io, out } = captureIo();
    const code = await runExplain(
      ['--ip', '192.0.2.66', '--from', '<>', '--rcpt', 'user%foreign.test@example.test', '--rcpt', 'user@example.test', '--json', '--config', configFile],
      io,
      deps,
    );
    assert.equal(code, 1); // refused: exit 1 (issue 22)
    const report = JSON.parse(out());
    assert.equal(report.listener.name, 'mx');
    assert.deepEqual(
      report.stages.map((s: { stage: string; status: string }) => [s.stage, s.status]),
      [['connect', 'evaluated'], ['helo', 'skipped'], ['mail', 'evaluated'], ['rcpt', 'evaluated'], ['rcpt', 'evaluated']],
    );
    const [trick, listed] = report.stages.slice(3);
    assert.equal(trick.verdict, 'reject');
    assert.equal(trick.reason, 'rcpt.percent_hack');
    assert.equal(trick.rule, 'strict-address');
    assert.match(trick.reply, /^550 5\.7\.1 /);
    assert.equal(listed.reason, 'dnsbl.listed');
    assert.equal(listed.reply, '554 5.7.1 Service unavailable; client [192.0.2.66] blocked using zen.example');
    assert.deepEqual(report.accepted, []);
    assert.deepEqual(report.refused, ['user%foreign.test@example.test', 'user@example.test']);
  });

  it('explains an authenticated relay on the submission listener', async () => {
    const { io, out } = captureIo();
    const code = await runExplain(['--ip', '192.0.2.200', '--user', 'alice', '--from', 'alice@example.test', '--rcpt', 'x@foreign.test', '--json', '--config', configFile], io, deps);
    assert.equal(code, 0);
    const report = JSON.parse(out());
    assert.equal(report.listener.name, 'submission');
    const byStage = Object.fromEntries(report.stages.map((s: { stage: string }) => [s.stage, s]));
    assert.equal(byStage.auth.reason, 'auth.ok');
    assert.equal(byStage.rcpt.reason, 'relay.authenticated');
    assert.ok(report.notes.some((n: string) => n.includes('password not checked')));
  });

  it('marks later stages not reached after a connect refusal', async () => {
    const { io, out } = captureIo();
    const code = await runExplain(['--ip', '203.0.113.5', '--from', 'a@other.example', '--rcpt', 'u@example.test', '--json', '--config', configFile], io, deps);
    assert.equal(code, 1); // refused: exit 1 (issue 22)
    const report = JSON.parse(out());
    assert.equal(report.stages[0].reply, '554 5.7.1 known spam source');
    assert.deepEqual(report.stages.slice(1).map((s: { status: string }) => s.status), ['skipped', 'not_reached', 'not_reached']);
  });

  it('says so when no facts are gathered', async () => {
    const { io, out } = captureIo();
    await runExplain(['--ip', '192.0.2.66', '--from', 'a@other.example', '--rcpt', 'u@example.test', '--config', configFile], io, { loadSnapshot: deps.loadSnapshot });
    assert.match(out(), /note: facts not gathered: DNSBL, rate limits and sender-domain checks were NOT consulted/);
  });

  const usage: ReadonlyArray<readonly [string, string[], number, RegExp]> = [
    ['missing --ip', ['--from', 'a@b.example', '--rcpt', 'c@d.example'], 2, /required/],
    ['missing --rcpt', ['--ip', '192.0.2.1', '--from', 'a@b.example'], 2, /required/],
    ['bad IP', ['--ip', 'nope', '--from', 'a@b.example', '--rcpt', 'c@d.example'], 2, /not an IP address/],
    ['unknown option', ['--ip', '192.0.2.1', '--bogus'], 2, /usage/],
    ['unknown listener', ['--ip', '192.0.2.1', '--listener', 'nope', '--from', 'a@b.example', '--rcpt', 'c@d.example'], 1, /no listener named "nope"/],
  ];
  for (const [name, argv, expected, message] of usage) {
    it(`exits ${expected} on ${name}`, async () => {
      const { io, err } = captureIo();
      assert.equal(await runExplain([...argv, '--config', configFile], io, deps), expected);
      assert.match(err(), message);
    });
  }

  it('prints file:line problems of an invalid config and exits 1', async () => {
    const bad = path.join(dir, 'bad.toml');
    await writeFile(bad, `${BASE_CONFIG}\nbogus_key = 1\n`);
    const { io, err } = captureIo();
    assert.equal(await runExplain(['--ip', '192.0.2.1', '--from', 'a@b.example', '--rcpt', 'c@d.example', '--config', bad], io, deps), 1);
    assert.match(err(), /bad\.toml:\d+: /);
  });

  it('refuses to run without a policy store wired in', async () => {
    const { io, err } = captureIo();
    assert.equal(await runExplain(['--ip', '192.0.2.1', '--from', 'a@b.example', '--rcpt', 'c@d.example'], io), 1);
    assert.match(err(), /no policy store/);
  });
});

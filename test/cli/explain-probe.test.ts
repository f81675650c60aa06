// `relayguard explain` with [recipient_verification] on (issue 16): by
// default it names the recipients it would verify live and does not probe;
// with --probe-recipients it asks the next hop (a real smtp-server) and says
// what serve would say.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runExplainCommand } from '../../src/cli/explain-command.ts';
import { captureIo } from '../helpers/cli-run.ts';
import { makeTestConfig } from '../helpers/test-config.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import type { StageJson } from '../helpers/explain-fixture.ts';

test('explain: probes are reported, not sent, unless --probe-recipients', async (t) => {
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  sink.rcptReply('nobody@example.test', '550 5.1.1 no such user');
  const dir = await makeTestConfig(
    `[[listeners]]
address = "127.0.0.1:0"
role = "mx"
tls = "none"

[delivery]
mode = "smarthost"
[delivery.smarthost]
hosts = ["127.0.0.1:${sink.port}"]

[recipient_verification]
enabled = true
timeout = "5s"
`,
    { 'local-domains': 'example.test\n', 'checks.toml': '[sender_domain]\nreject_unknown = false\n' },
  );
  t.after(() => dir.cleanup());
  const run = async (extra: string[]) => {
    const { io, out, err } = captureIo();
    const code = await runExplainCommand(['--ip', '192.0.2.10', '--from', 'someone@other.test', '--rcpt', 'nobody@example.test', ...extra, '--json', '--config', dir.configFile], io);
    return { code, report: JSON.parse(out()) as { stages: StageJson[]; notes: string[] }, err: err() };
  };

  const reported = await run([]);
  assert.equal(reported.code, 0, reported.err);
  assert.ok(reported.report.notes.some((n) => /recipient nobody@example\.test would be verified live at smarthost 127\.0\.0\.1:\d+; not probed/.test(n)), reported.report.notes.join('\n'));
  assert.equal(sink.rcpts.length, 0, 'no probe sent');

  const probed = await run(['--probe-recipients']);
  assert.equal(probed.code, 1, probed.err);
  const rcpt = probed.report.stages.find((s) => s.stage === 'rcpt');
  assert.equal(rcpt?.rule, 'recipient_probe');
  assert.equal(rcpt?.reason, 'rcpt.unknown_user');
  assert.match(String(rcpt?.reply), /^550 5\.1\.1 <nobody@example\.test>: Recipient address rejected: User unknown/);
  assert.deepEqual(sink.rcpts, [{ from: '', to: 'nobody@example.test' }]);
});

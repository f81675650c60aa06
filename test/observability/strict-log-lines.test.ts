// Every log line a real relay writes is strict JSON: no key twice in one
// object (JSON.parse keeps the last silently; strict consumers refuse the line).
// `relayguard serve` in a child process at log level debug, with its delivery
// worker (whose lines reach stdout through the main thread), a delivered
// message, a refused recipient, a SIGHUP reload and a SIGTERM shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, eventually, smarthostTo } from '../helpers/relay-harness.ts';
import { makeTestConfig } from '../helpers/test-config.ts';
import { listenerPort, serve } from '../helpers/relay-process.ts';
import { SmtpTalk } from '../helpers/smtp-talk.ts';
import { parseStrictJson } from '../helpers/strict-json.ts';

const POLICIES = {
  'local-domains': 'example.test\n',
  'relay-networks': '127.0.0.1\n',
  'checks.toml': '[sender_domain]\nreject_unknown = false\n',
};

test('every log line of a relay run, main thread and delivery worker, parses as strict JSON (no duplicate keys)', async (t) => {
  const sink = await startSmtpSink();
  const dir = await makeTestConfig(`log_level = "debug"\n${HARNESS_LISTENERS}${smarthostTo(sink.port, 'worker = true')}`, POLICIES);
  const relay = serve(dir.configFile);
  t.after(async () => {
    relay.child.kill('SIGKILL');
    await sink.close();
    await dir.cleanup();
  });
  let stdout = '';
  relay.child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  const port = listenerPort(await relay.started);

  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, name: 'client.test' });
  try {
    await transport.sendMail({ envelope: { from: 'alice@sender.test', to: ['bob@example.test'] }, raw: 'Subject: strict\r\n\r\nbody\r\n' });
  } finally {
    transport.close();
  }
  await sink.waitFor(1, 10_000);
  const talk = await SmtpTalk.connect({ port });
  await talk.read();
  await talk.command('EHLO client.test');
  await talk.command('MAIL FROM:<alice@sender.test>');
  assert.ok((await talk.command('RCPT TO:<bob@xn--zz.test>')).code >= 500, 'refused');
  await talk.command('QUIT');
  talk.close();
  await eventually(() => stdout.includes('"delivery attempt"'), 10_000, 'the worker logged its attempt');
  relay.child.kill('SIGHUP');
  await eventually(() => stdout.includes('"policy.reloaded"'), 10_000, 'the reload was logged');

  relay.child.kill('SIGTERM');
  assert.equal(await relay.exited, 0);
  const lines = stdout.split('\n').filter((line) => line !== '');
  const problems: string[] = [];
  for (const line of lines) {
    try {
      parseStrictJson(line);
    } catch (error) {
      problems.push(`${(error as Error).message}\n  ${line}`);
    }
  }
  assert.deepEqual(problems, []);
  const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.ok(parsed.some((l) => l.msg === 'delivery attempt'), 'a line from the delivery worker is among them');
  assert.ok(parsed.length >= 5, `${parsed.length} lines`);
});

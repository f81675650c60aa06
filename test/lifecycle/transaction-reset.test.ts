// The front door follows smtp-server's transaction resets (RSET, EHLO): a
// client whose recipients were all refused and who said RSET is idle, so a
// drain (SIGTERM) tells it 421 at once instead of waiting shutdown_grace for
// it; a client in the middle of a real transaction is still let finish.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, smarthostTo, startHarness } from '../helpers/relay-harness.ts';
import { codeOf, message, openSession } from '../helpers/e2e-relay-client.ts';

const POLICIES = { 'local-domains': 'example.test\n', 'relay-networks': '127.0.0.1\n' };

test('on drain, a session reset by RSET or EHLO gets 421 at once; one in a transaction may finish', async (t) => {
  const sink = await startSmtpSink();
  // A grace far longer than the client's read timeout (10 s): waiting for an idle session would fail the test.
  const harness = await startHarness({ config: `${HARNESS_LISTENERS}${smarthostTo(sink.port)}\n[smtp]\nshutdown_grace = "100s"\n`, policies: POLICIES });
  t.after(async () => {
    await harness.stop();
    await sink.close();
  });
  const port = harness.port('mx');

  const reset = await openSession({ port, from: '127.0.0.3' });
  assert.equal((await reset.command('MAIL FROM:<a@outside.test>')).code, 250);
  assert.equal(codeOf(await reset.command('RCPT TO:<user@foreign.test>')), '554 5.7.1');
  assert.equal((await reset.command('RSET')).code, 250);

  const rehello = await openSession({ port, from: '127.0.0.3' });
  assert.equal((await rehello.command('MAIL FROM:<b@outside.test>')).code, 250);
  assert.equal((await rehello.command('EHLO again.test')).code, 250);

  const busy = await openSession({ port, from: '127.0.0.3' });
  assert.equal((await busy.command('MAIL FROM:<c@outside.test>')).code, 250);
  assert.equal((await busy.command('RCPT TO:<user@example.test>')).code, 250);
  t.after(() => [reset, rehello, busy].forEach((s) => s.close()));

  const stopped = harness.relay.stop();
  assert.match((await reset.read())?.lines[0] ?? '', /^421 4\.3\.2 /);
  assert.match((await rehello.read())?.lines[0] ?? '', /^421 4\.3\.2 /);
  // The transaction in flight completes during the drain.
  assert.equal((await busy.command('DATA')).code, 354);
  assert.match((await busy.command(`${message('drained')}\r\n.`)).lines[0] ?? '', /^250 2\.0\.0 Ok: queued as /);
  assert.match((await busy.read())?.lines[0] ?? '', /^421 4\.3\.2 /, 'then it is told to go');
  await stopped;
});

// smtp keys a reload applies are read from the connection's snapshot, not
// from the config the front door started with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SmtpTalk } from '../helpers/smtp-talk.ts';
import { startDoor } from '../helpers/front-door-harness.ts';

test('bare_line_endings comes from the snapshot: normalize after a reload accepts a bare LF', async (t) => {
  const relay = await startDoor('', { snapshotSmtp: { bare_line_endings: 'normalize' } });
  t.after(() => relay.stop());
  const client = await SmtpTalk.connect({ port: relay.port('mx') });
  await client.read();
  await client.command('EHLO client.test');
  await client.command('MAIL FROM:<a@sender.test>');
  await client.command('RCPT TO:<b@example.test>');
  await client.command('DATA');
  client.write('Subject: lf\r\n\r\nfirst\nsecond\r\n.\r\n');
  const reply = await client.read();
  assert.equal(reply?.code, 250);
  assert.equal(relay.intake.messages.length, 1);
  assert.match(relay.intake.messages[0]?.body.toString() ?? '', /first\r\nsecond\r\n/);
  client.close();
});

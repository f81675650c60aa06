// RFC 2920 pipelining over real sockets: a group may hold MAIL, RCPT and a
// final DATA (and a message's final dot, then more), but EHLO, HELO, DATA,
// NOOP, VRFY and EXPN must end their group. A client that sends more after
// them gets Postfix's smtpd_forbid_unauth_pipelining reply and is
// disconnected (smtp.forbid_unauth_pipelining, on by default). And the small
// replies: VRFY/EXPN refused, HELO/EHLO without a name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SmtpTalk, type SmtpReply } from '../helpers/smtp-talk.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { MemoryIntake, scriptedPolicy, startDoor } from '../helpers/front-door-harness.ts';
import { DEFAULT_LISTENERS, makeTestConfig } from '../helpers/test-config.ts';
import { testSnapshot } from '../helpers/policy-snapshot.ts';
import { FrontDoor } from '../../src/smtp/front-door.ts';
import { DecisionLog, type DecisionEvent } from '../../src/observability/decision-log.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { loadTlsMaterial } from '../../src/smtp/tls-material.ts';
import type { SessionRecord } from '../../src/session/session-record.ts';

const SYNC = '554 5.5.0 Error: SMTP protocol synchronization';

/** Every reply until the server closes (bounded by SmtpTalk's timeout). */
async function repliesUntilClose(client: SmtpTalk): Promise<string[]> {
  const lines: string[] = [];
  for (let i = 0; i < 20; i++) {
    const reply: SmtpReply | null = await client.read();
    if (!reply) return lines;
    lines.push(reply.lines.at(-1) ?? '');
  }
  throw new Error(`still open after ${lines.join(' | ')}`);
}

async function greeted(port: number): Promise<SmtpTalk> {
  const client = await SmtpTalk.connect({ port });
  assert.equal((await client.read())?.code, 220);
  return client;
}

test('EHLO or HELO with more commands behind it in the same group: 554 5.5.0 and closed, the commands are never run', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  for (const [opening, command] of [
    ['EHLO', 'EHLO bot.test'],
    ['HELO', 'HELO bot.test'],
  ] as const) {
    const client = await greeted(relay.port('mx'));
    client.write(`${command}\r\nMAIL FROM:<bot@bot.test>\r\nRCPT TO:<bob@example.test>\r\n`);
    assert.deepEqual(await repliesUntilClose(client), [SYNC], opening);
    const event = relay.events.find((e) => e.decision.reason === 'proto.pipelining' && e.decision.detail?.command === opening);
    assert.equal(event?.decision.verdict, 'reject');
    assert.equal(event?.decision.stage, 'helo');
    assert.equal(event?.decision.rule, 'forbid_unauth_pipelining');
  }
  assert.ok(!relay.events.some((e) => e.decision.stage === 'mail'), 'no MAIL reached the policy');
});

test('at max_errors the pipelining refusal is still the last word: 554, not 554 and 421', async (t) => {
  const relay = await startDoor('[smtp]\nmax_errors = 1\n');
  t.after(() => relay.stop());
  const client = await greeted(relay.port('mx'));
  client.write('EHLO bot.test\r\nMAIL FROM:<bot@bot.test>\r\n');
  assert.deepEqual(await repliesUntilClose(client), [SYNC]);
  assert.ok(!relay.events.some((e) => e.decision.reason === 'proto.too_many_errors'));
});

test('MAIL, RCPT and DATA in one group, then the message, its dot and the next transaction in one group, are all served', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const client = await greeted(relay.port('mx'));
  assert.equal((await client.command('EHLO client.test')).code, 250);
  client.write('MAIL FROM:<alice@sender.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n');
  assert.deepEqual([(await client.read())?.code, (await client.read())?.code, (await client.read())?.code], [250, 250, 354]);
  // A body line that reads like a command that must end a group is message text, not a command.
  client.write('Subject: one\r\n\r\nNOOP\r\nEHLO x\r\n.\r\nMAIL FROM:<alice@sender.test>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n');
  assert.deepEqual([(await client.read())?.code, (await client.read())?.code, (await client.read())?.code, (await client.read())?.code], [250, 250, 250, 354]);
  client.write('Subject: two\r\n\r\nbody\r\n.\r\nQUIT\r\n');
  const replies = await repliesUntilClose(client);
  assert.match(replies[0] ?? '', /^250 2\.0\.0 Ok: queued as Q2$/);
  assert.match(replies[1] ?? '', /^221 /);
  assert.equal(relay.intake.messages.length, 2);
  assert.ok(!relay.events.some((e) => e.decision.reason === 'proto.pipelining'));
});

test('a message sent without waiting for the 354, and NOOP with more behind it, are violations too; nothing is queued', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const eager = await greeted(relay.port('mx'));
  assert.equal((await eager.command('EHLO client.test')).code, 250);
  eager.write('MAIL FROM:<alice@sender.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: eager\r\n\r\nbody\r\n.\r\n');
  const replies = await repliesUntilClose(eager);
  assert.deepEqual(replies.map((l) => l.slice(0, 3)), ['250', '250', '554'], replies.join(' | '));
  assert.equal(replies[2], SYNC);
  assert.equal(relay.intake.messages.length, 0);
  assert.equal(relay.events.find((e) => e.decision.reason === 'proto.pipelining')?.decision.stage, 'data');

  const noop = await greeted(relay.port('mx'));
  noop.write('NOOP\r\nNOOP\r\n');
  assert.deepEqual(await repliesUntilClose(noop), [SYNC]);
});

test('after STARTTLS the count starts again: EHLO with MAIL behind it inside TLS is refused too', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const client = await greeted(relay.port('mx'));
  assert.equal((await client.command('EHLO client.test')).code, 250);
  assert.equal((await client.starttls()).code, 220);
  assert.equal((await client.command('EHLO client.test')).code, 250, 'one command at a time is fine');
  client.write('EHLO client.test\r\nMAIL FROM:<bot@bot.test>\r\n');
  assert.deepEqual(await repliesUntilClose(client), [SYNC]);
});

test('QUIT right behind EHLO is answered, not refused: the client is leaving anyway', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const client = await greeted(relay.port('mx'));
  client.write('EHLO client.test\r\nQUIT\r\n');
  const replies = await repliesUntilClose(client);
  assert.deepEqual(replies.map((l) => l.slice(0, 3)), ['250', '221'], replies.join(' | '));
});

test('with smtp.forbid_unauth_pipelining = false, commands pipelined after EHLO are served', async (t) => {
  const relay = await startDoor('[smtp]\nforbid_unauth_pipelining = false\n');
  t.after(() => relay.stop());
  const client = await greeted(relay.port('mx'));
  client.write('EHLO client.test\r\nMAIL FROM:<alice@sender.test>\r\nRCPT TO:<bob@example.test>\r\nNOOP\r\nQUIT\r\n');
  const replies = await repliesUntilClose(client);
  assert.deepEqual(replies.map((l) => l.slice(0, 3)), ['250', '250', '250', '250', '221'], replies.join(' | '));
  assert.ok(!relay.events.some((e) => e.decision.reason === 'proto.pipelining'));
});

test('VRFY and EXPN get 502 5.5.1; EHLO and HELO without a host name get 501 5.5.4; the session goes on', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  const client = await greeted(relay.port('mx'));
  assert.equal((await client.command('EHLO')).lines[0], '501 5.5.4 Syntax: EHLO hostname');
  assert.equal((await client.command('HELO  ')).lines[0], '501 5.5.4 Syntax: HELO hostname');
  assert.equal((await client.command('EHLO client.test')).code, 250);
  assert.equal((await client.command('VRFY bob@example.test')).lines[0], '502 5.5.1 VRFY command is disabled');
  assert.equal((await client.command('VRFY')).lines[0], '502 5.5.1 VRFY command is disabled');
  assert.equal((await client.command('EXPN staff')).lines[0], '502 5.5.1 EXPN command is disabled');
  assert.equal((await client.command('NOOP')).code, 250, 'the session is still in step');
  client.close();
});

test('DATA and RSET with an argument get 501 5.5.4 (RFC 5321 4.1.1.4, 4.1.1.5, as Postfix) and run nothing: the transaction stays', async (t) => {
  const relay = await startDoor('[smtp]\nforbid_unauth_pipelining = false\n');
  t.after(() => relay.stop());
  const client = await greeted(relay.port('mx'));
  assert.equal((await client.command('EHLO client.test')).code, 250);
  assert.equal((await client.command('MAIL FROM:<alice@sender.test>')).code, 250);
  assert.equal((await client.command('RCPT TO:<bob@example.test>')).code, 250);
  assert.equal((await client.command('DATA now')).lines[0], '501 5.5.4 Syntax: DATA');
  assert.equal((await client.command('rset all')).lines[0], '501 5.5.4 Syntax: RSET');
  assert.equal((await client.command('DATA')).code, 354, 'the transaction is still there');
  client.close();
});

test('with greet_delay = 0 a client that talks before the greeting is refused all the same (421 4.7.0, a published Decision)', async (t) => {
  const dir = await makeTestConfig(`${DEFAULT_LISTENERS}\n[smtp]\ngreet_delay = "0s"\n`);
  const events: DecisionEvent[] = [];
  const decisions = new DecisionLog();
  decisions.subscribe((e) => events.push(e));
  const seen: SessionRecord[] = [];
  const policy = scriptedPolicy(seen);
  let release: (() => void) | undefined;
  const logger = silentLogger();
  const door = new FrontDoor({
    config: dir.config,
    currentSnapshot: () => testSnapshot({ relayNetworks: [], allowlist: [] }),
    // The connect stage answers only when the test says so: the greeting is not out yet.
    driver: { ...policy, connect: (state) => new Promise((resolve) => (release = () => resolve(policy.connect(state)))) },
    spool: new MemoryIntake(),
    tls: await loadTlsMaterial(dir.config, logger),
    logger,
    decisions,
  });
  const bound = await door.listen();
  t.after(async () => {
    await door.close(200);
    await dir.cleanup();
  });
  const client = await SmtpTalk.connect({ port: (bound.find((b) => b.name === 'mx') as { port: number }).port });
  await waitFor(() => release !== undefined, 2000, 'the connect stage to start');
  client.write('EHLO bot.test\r\n');
  const refused = await client.read();
  assert.match(refused?.lines[0] ?? '', /^421 4\.7\.0 /);
  release?.();
  assert.equal(await client.read(), null, 'closed, and no greeting follows');
  assert.ok(events.some((e) => e.decision.reason === 'conn.early_talker'));
});

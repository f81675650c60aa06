// Issue 4 end to end: the relay is closed unless a policy opens it. The whole
// relay (startRelay) on loopback with relay-networks = 127.0.0.1 only; a raw
// client bound to 127.0.0.3 plays the outside. Every foreign recipient and
// every address trick of the old open-relay testers gets a permanent 5xx
// (never 4xx), and the upstream sink receives nothing but the marker message
// sent after them; local-domain recipients from outside arrive; a
// relay-network client may relay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, smarthostTo, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { codeOf, message, messageIds, openSession, transaction } from '../helpers/e2e-relay-client.ts';
import { RELAY_TRICKS } from '../helpers/e2e-relay-tricks.ts';
import { SmtpTalk } from '../helpers/smtp-talk.ts';

const OUTSIDE = '127.0.0.3';
const POLICIES = { 'local-domains': 'example.test\nbücher.example\n', 'relay-networks': '127.0.0.1\n' };
// The tricks run on one connection, as a relay tester's would: no tarpit, no error cap here
// (the cap has its own test below).
const NO_ERROR_CAP = '\n[smtp]\nmax_errors = 10000\ntarpit_after_errors = 10000\n';

async function start(t: { after: (fn: () => Promise<void>) => void }, smtp = NO_ERROR_CAP): Promise<{ harness: RelayHarness; sink: SmtpSink }> {
  const sink = await startSmtpSink();
  const harness = await startHarness({ deliveryWorker: false, config: HARNESS_LISTENERS + smarthostTo(sink.port) + smtp, policies: POLICIES });
  t.after(async () => {
    await harness.stop();
    await sink.close();
  });
  return { harness, sink };
}

/** Decision log lines for RCPT from `client`, in order. */
function rcptDecisions(harness: RelayHarness, client: string): Array<Record<string, unknown>> {
  return harness.logs.filter((l) => l.stage === 'rcpt' && l.client === client && typeof l.decision === 'string');
}

/** The marker was queued: waits until it arrived and the spool is empty, then asserts it is all the sink got. */
async function onlyTheMarkerArrives(harness: RelayHarness, sink: SmtpSink, queued: string | undefined, marker: string): Promise<void> {
  assert.match(queued ?? '', /^250 2\.0\.0 Ok: queued as /, 'the marker message is queued');
  await sink.waitFor(1);
  await waitFor(() => harness.relay.spool.stats().size === 0, 10_000, 'the spool drains');
  assert.equal(sink.messages.length, 1, `exactly one message reached the sink: ${sink.messages.map((m) => m.to.join(',')).join(' | ')}`);
  assert.deepEqual(sink.messages[0]?.to, [marker]);
}

test('from outside, every foreign recipient and address trick gets a permanent 5xx and nothing reaches the sink', async (t) => {
  const { harness, sink } = await start(t);
  const talk = await openSession({ port: harness.port('mx'), from: OUTSIDE, helo: 'tester.outside.test' });
  t.after(() => talk.close());
  assert.equal((await talk.command('MAIL FROM:<tester@outside.test>')).code, 250);
  for (const trick of RELAY_TRICKS) {
    const reply = await talk.command(`RCPT TO:${trick.rcpt}`);
    assert.ok(reply.code >= 500 && reply.code < 600, `${trick.name}: ${trick.rcpt} got ${reply.lines.join(' | ')}`);
    assert.equal(codeOf(reply), trick.expect, `${trick.name}: ${JSON.stringify(trick.rcpt)} got ${reply.lines.join(' | ')}`);
    assert.ok(!reply.lines[0]?.includes('\u0000'), 'the reply never echoes control characters');
  }
  assert.equal(talk.closed, false, 'the session survived every trick');

  // The policy decided every row it was given, with the expected reason and rule.
  const expectedReasons = RELAY_TRICKS.filter((r) => r.reason !== undefined).map((r) => `${r.name}: ${r.reason}`);
  await waitFor(() => rcptDecisions(harness, OUTSIDE).length >= expectedReasons.length, 5000, 'every decision logged');
  const decided = rcptDecisions(harness, OUTSIDE);
  assert.deepEqual(
    decided.map((l, i) => `${RELAY_TRICKS.filter((r) => r.reason !== undefined)[i]?.name}: ${String(l.reason)}`),
    expectedReasons,
  );
  for (const line of decided) {
    assert.equal(line.decision, 'reject');
    assert.ok(['reject-relay', 'strict-address'].includes(String(line.rule)), `rule ${String(line.rule)}`);
  }

  // Same transaction: a local recipient is accepted, so DATA goes through and
  // the sink sees exactly which recipients the relay kept.
  assert.equal(codeOf(await talk.command('RCPT TO:<marker@example.test>')), '250 2.1.5');
  assert.equal((await talk.command('DATA')).code, 354);
  const queued = await talk.command(`${message('after-tricks')}\r\n.`);
  await onlyTheMarkerArrives(harness, sink, queued.lines[0], 'marker@example.test');
});

test('from outside, recipients in a local domain (any spelling) are accepted and arrive, normalised', async (t) => {
  const { harness, sink } = await start(t);
  const talk = await openSession({ port: harness.port('mx'), from: OUTSIDE });
  t.after(() => talk.close());
  const rcpts: ReadonlyArray<readonly [string, string]> = [
    ['<alice@example.test>', 'alice@example.test'],
    ['<Bob@EXAMPLE.TEST.>', 'Bob@example.test'],
    ['<carol@ｅｘａｍｐｌｅ.test>', 'carol@example.test'],
    ['<dave@Bücher.example>', 'dave@xn--bcher-kva.example'],
    ['<erin@xn--bcher-kva.example>', 'erin@xn--bcher-kva.example'],
    ['<postmaster@example.test>', 'postmaster@example.test'],
    // (our own literals, user@[127.0.0.1], are refused since issue 16: test/e2e-relay/postmaster-and-literals.test.ts)
    ['<"j.doe"@example.test>', '"j.doe"@example.test'],
    ['<heidi@example.test> NOTIFY=NEVER', 'heidi@example.test'],
    [' <ivan@example.test>', 'ivan@example.test'],
  ];
  // SMTPUTF8: a U-label domain needs it since issue 21 (RFC 6531); the stored domain is still its A-label.
  const sent = await transaction(talk, '<someone@outside.test> SMTPUTF8', rcpts.map(([raw]) => raw), message('local-from-outside'));
  assert.deepEqual(sent.rcpt.map(codeOf), rcpts.map(() => '250 2.1.5'));
  assert.match(sent.queued?.lines[0] ?? '', /^250 2\.0\.0 Ok: queued as /);
  const queued = harness.logs.find((l) => l.msg === 'decision' && l.reason === 'data.queued');
  assert.deepEqual((queued?.detail as { to?: unknown } | undefined)?.to, rcpts.map(([, normalised]) => normalised), 'the spooled envelope holds the normalised recipients');
  const decisions = rcptDecisions(harness, OUTSIDE);
  assert.ok(decisions.every((l) => l.reason === 'rcpt.local_domain' && l.rule === 'local-domains'));
  await sink.waitFor(1);
  // smtp-server (the sink) shows IDN domains as U-labels.
  const arrived = [...(sink.messages[0]?.to ?? [])].map((a) => a.replace('@bücher.example', '@xn--bcher-kva.example')).sort();
  assert.deepEqual(arrived, rcpts.map(([, normalised]) => normalised).sort());
  assert.equal(sink.messages.length, 1);
});

test('a relay-network client (127.0.0.1) may relay to a foreign domain; tricks are still refused for it', async (t) => {
  const { harness, sink } = await start(t);
  const talk = await openSession({ port: harness.port('mx'), from: '127.0.0.1' });
  t.after(() => talk.close());
  const rows: ReadonlyArray<readonly [string, string, string?]> = [
    ['<user@foreign.test>', '250 2.1.5', 'relay.trusted_network'],
    ['<Other@Foreign.Test.>', '250 2.1.5', 'relay.trusted_network'],
    ['<user%x@foreign.test>', '250 2.1.5', 'relay.trusted_network'],
    ['<local@example.test>', '250 2.1.5', 'rcpt.local_domain'],
    ['<user%foreign.test@example.test>', '550 5.7.1', 'rcpt.percent_hack'],
    ['<@example.test:user@foreign.test>', '550 5.7.1', 'rcpt.source_route'],
    ['<"user@foreign.test"@example.test>', '550 5.7.1', 'rcpt.quoted_route'],
    ['<user@[192.0.2.1]>', '550 5.7.1', 'rcpt.address_literal'],
  ];
  const sent = await transaction(talk, '<office@example.test>', rows.map(([raw]) => raw), message('relayed'));
  assert.deepEqual(sent.rcpt.map(codeOf), rows.map(([, code]) => code));
  assert.deepEqual(rcptDecisions(harness, '127.0.0.1').map((l) => l.reason), rows.map(([, , reason]) => reason));
  await sink.waitFor(1);
  assert.deepEqual([...(sink.messages[0]?.to ?? [])].sort(), ['Other@foreign.test', 'local@example.test', 'user%x@foreign.test', 'user@foreign.test'].sort());
  assert.deepEqual([...messageIds(sink.messages.map((m) => m.raw)).keys()], ['relayed']);
});

/**
 * Random trick addresses from outside, on one transaction opened with
 * `mailFrom`: every one gets a 5xx and only the marker sent after them
 * reaches the sink. Since issue 21 the spellings include UTF-8 local parts
 * and U-label domains (local and foreign), and the property runs both
 * without and with SMTPUTF8 declared: no UTF-8 spelling may open the relay.
 */
async function relayProperty(t: { after: (fn: () => Promise<void> | void) => void }, mailFrom: string): Promise<void> {
  const { harness, sink } = await start(t);
  const talk = await openSession({ port: harness.port('mx'), from: OUTSIDE });
  t.after(() => talk.close());
  assert.equal((await talk.command(`MAIL FROM:${mailFrom}`)).code, 250);

  const local = fc.constantFrom('user', 'postmaster', 'Abuse', 'x.y', 'a+b', 'jürgen', 'Ωmega', '用户', 'postmäster');
  const foreign = fc.oneof(
    fc.constantFrom('foreign.test', 'FOREIGN.TEST.', 'evil.example', 'sub.example.test', 'example.test.foreign.test', 'notexample.test', 'bücher.test', 'ex\u0430mple.test', 'xn--bcher-kva.test', 'exämple.test', 'пример.test', 'BÜCHER.TEST.', 'bücher.example.foreign.test', 'sub.bücher.example', 'xn--e1afmkfd.test'),
    fc.tuple(fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/), fc.constantFrom('com', 'net', 'test', 'example')).map(([label, tld]) => `${label}.${tld}`).filter((d) => d !== 'example.test'),
  );
  const localSpelling = fc.constantFrom('example.test', 'EXAMPLE.TEST', 'example.test.', 'Example.Test.', 'ｅｘａｍｐｌｅ.test', 'bücher.example', 'BÜCHER.EXAMPLE.', 'xn--bcher-kva.example', 'ｂücher.example', 'Bücher.Example', 'XN--BCHER-KVA.EXAMPLE.', '[127.0.0.1]', '[IPv6:::ffff:127.0.0.1]');
  const foreignLiteral = fc.oneof(
    fc.ipV4().filter((ip) => ip !== '127.0.0.1').map((ip) => `[${ip}]`),
    fc.constantFrom('[IPv6:2001:db8::1]', '[IPv6:::1]', '[x-relay:foreign.test]'),
  );
  const trick = fc.oneof(
    fc.tuple(local, foreign).map(([l, f]) => `${l}@${f}`),
    fc.tuple(local, foreign, localSpelling).map(([l, f, d]) => `${l}%${f}@${d}`),
    fc.tuple(local, foreign, localSpelling).map(([l, f, d]) => `${f}!${l}@${d}`),
    fc.tuple(local, fc.constantFrom('@', '%', '!', '\\@'), foreign, localSpelling).map(([l, s, f, d]) => `"${l}${s}${f}"@${d}`),
    fc.tuple(local, foreign, localSpelling, fc.boolean()).map(([l, f, d, swap]) => (swap ? `${l}@${d}@${f}` : `${l}@${f}@${d}`)),
    fc.tuple(local, foreign, localSpelling).map(([l, f, d]) => `${l}\\@${f}@${d}`),
    fc.tuple(fc.array(fc.oneof(localSpelling, foreign), { minLength: 1, maxLength: 3 }), local, fc.oneof(foreign, localSpelling)).map(
      ([hops, l, d]) => `${hops.map((h) => `@${h}`).join(',')}:${l}@${d}`,
    ),
    fc.tuple(local, foreignLiteral).map(([l, lit]) => `${l}@${lit}`),
    fc.tuple(local, localSpelling, foreign).map(([l, d, f]) => `${l}%${d}@${f}`),
  );
  const params = fc.constantFrom('', ' NOTIFY=NEVER', ' NOTIFY=SUCCESS ORCPT=rfc822;user+40example.test', ' ORCPT=utf-8;j\\x{FC}rgen@example.test');
  const command = fc.tuple(trick, params, fc.constantFrom('', ' ')).map(([addr, param, space]) => `${space}<${addr}>${param}`);

  const tried: string[] = [];
  await fc.assert(
    fc.asyncProperty(command, async (rcpt) => {
      tried.push(rcpt);
      const reply = await talk.command(`RCPT TO:${rcpt}`);
      return reply.code >= 500 && reply.code < 600;
    }),
    { numRuns: 150, seed: Number(process.env.FC_SEED ?? Date.now() % 2 ** 31), endOnFailure: true },
  );
  assert.equal(tried.length >= 150, true);
  await talk.command('RSET');
  const sent = await transaction(talk, '<prober@outside.test>', ['<marker@example.test>'], message('after-property'));
  await onlyTheMarkerArrives(harness, sink, sent.queued?.lines[0], 'marker@example.test');
}

test('open-relay property: random trick addresses from outside never reach the sink', async (t) => {
  await relayProperty(t, '<prober@outside.test>');
});

test('open-relay property with SMTPUTF8 declared: no UTF-8 spelling of a trick reaches the sink', async (t) => {
  await relayProperty(t, '<prober@outside.test> SMTPUTF8');
});

test('with the default error cap, a relay tester still gets every trick refused with 5xx, then 421 and the connection closes', async (t) => {
  // Defaults except a short tarpit: max_errors = 10, tarpit_after_errors = 3.
  const { harness, sink } = await start(t, '\n[smtp]\ntarpit_delay = "50ms"\n');
  const talk = await openSession({ port: harness.port('mx'), from: OUTSIDE });
  t.after(() => talk.close());
  assert.equal((await talk.command('MAIL FROM:<tester@outside.test>')).code, 250);
  const replies: string[] = [];
  for (const trick of RELAY_TRICKS.filter((r) => r.reason !== undefined).slice(0, 10)) {
    replies.push(codeOf(await talk.command(`RCPT TO:${trick.rcpt}`)));
  }
  assert.deepEqual(replies.filter((r) => !r.startsWith('5')), [], `every trick refused with 5xx: ${replies.join(', ')}`);
  const closing = await talk.read();
  assert.equal(closing?.lines[0], '421 4.7.0 Too many errors, closing connection');
  assert.equal(await talk.read(), null, 'closed');
  assert.ok(harness.logs.some((l) => l.reason === 'proto.too_many_errors' && l.client === OUTSIDE));
  assert.equal(sink.messages.length, 0);
});

test('the submission listeners give an outside client without AUTH nothing to relay with (530 at MAIL)', async (t) => {
  const { harness, sink } = await start(t);
  for (const [name, implicit] of [['submission', false], ['submissions', true]] as const) {
    const talk = await SmtpTalk.connect({ port: harness.port(name), localAddress: OUTSIDE, tls: implicit, timeoutMs: 10_000 });
    t.after(() => talk.close());
    assert.equal((await talk.read())?.code, 220);
    assert.equal((await talk.command('EHLO tester.outside.test')).code, 250);
    if (!implicit) {
      assert.equal((await talk.starttls()).code, 220);
      assert.equal((await talk.command('EHLO tester.outside.test')).code, 250);
    }
    assert.equal((await talk.command('MAIL FROM:<tester@outside.test>')).lines[0], '530 5.7.0 Authentication required', name);
    assert.equal(codeOf(await talk.command('RCPT TO:<user@foreign.test>')), '503 5.5.1', name);
    assert.equal(codeOf(await talk.command('RCPT TO:<user%foreign.test@example.test>')), '503 5.5.1', name);
  }
  assert.equal(harness.logs.filter((l) => l.reason === 'mail.auth_required' && l.client === OUTSIDE).length, 2);
  assert.equal(sink.messages.length, 0);
});

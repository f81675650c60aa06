// Issue 18 items 1-3: the Postfix policy delegation server over real sockets,
// in the whole relay (startRelay), with the test DNS server as the only
// resolver. Raw requests as Postfix sends them (test/helpers/policy-client.ts):
// the answers, pipelining, per-message counting by `instance`, and bad input
// (garbage, over-long lines, slow clients, the time budget), each of which
// costs only its own connection. The refusals are compared with what the SMTP
// front door of the same relay says to the same client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, smarthostTo, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { PolicyClient, postfixRequest, actionOf } from '../helpers/policy-client.ts';
import { SmtpTalk } from '../helpers/smtp-talk.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { usersToml } from '../helpers/auth-fixtures.ts';
import { replyFor } from '../../src/policy/replies.ts';
import { formatReply } from '../../src/policy/decision.ts';

const LISTED = '127.0.0.5';
const ZONE = 'bl.test';

interface Setup {
  readonly harness: RelayHarness;
  readonly dns: TestDnsServer;
  readonly sink: SmtpSink;
  readonly port: number;
  connect(): Promise<PolicyClient>;
}

async function setup(
  t: { after(fn: () => Promise<void>): void },
  options: { policyService?: string; policies?: Record<string, string>; dnsTimeout?: string } = {},
): Promise<Setup> {
  const dns = await startDnsServer();
  for (const ip of ['127.0.0.2', LISTED]) dns.add({ name: `${ip.split('.').reverse().join('.')}.${ZONE}`, type: 'A', data: '127.0.0.2' });
  const sink = await startSmtpSink();
  const harness = await startHarness({
    deliveryWorker: false,
    config: `${HARNESS_LISTENERS}${smarthostTo(sink.port)}
[dns]
servers = ["${dns.address}"]
timeout = "${options.dnsTimeout ?? '1s'}"
tries = 1

[policy_service]
enabled = true
address = "127.0.0.1:0"
${options.policyService ?? ''}
`,
    policies: {
      'local-domains': 'example.test\n',
      'relay-networks': '127.0.0.1\n',
      'dnsbl.toml': `threshold = 1\ncheck_private_clients = true\n[[zones]]\nzone = "${ZONE}"\n`,
      ...options.policies,
    },
  });
  t.after(async () => {
    await harness.stop();
    await sink.close();
    await dns.close();
  });
  const address = harness.relay.policy;
  assert.ok(address?.kind === 'inet', 'the policy service listens on TCP');
  const clients: PolicyClient[] = [];
  t.after(async () => {
    for (const client of clients) client.close();
  });
  return {
    harness,
    dns,
    sink,
    port: address.port,
    async connect() {
      const client = await PolicyClient.connect({ port: address.port });
      clients.push(client);
      return client;
    },
  };
}

/** What the SMTP front door of the same relay answers RCPT TO:<recipient> from `client` (a 127.x address). */
async function frontDoorRcpt(harness: RelayHarness, client: string, recipient: string): Promise<string> {
  const talk = await SmtpTalk.connect({ port: harness.port('mx'), localAddress: client });
  try {
    await talk.read();
    await talk.command('EHLO client.example.net');
    const mail = await talk.command('MAIL FROM:<alice@sender.example>');
    assert.equal(mail.code, 250, mail.text);
    const rcpt = await talk.command(`RCPT TO:<${recipient}>`);
    return rcpt.lines.join(' ').replace(/^(\d{3})[ -]/, '$1 ');
  } finally {
    talk.close();
  }
}

test('each stage answers as the front door would: DUNNO, OK for a trusted client, the front door\'s exact refusals', async (t) => {
  const { harness, connect } = await setup(t);
  const client = await connect();

  // A stranger to a local domain: relayguard has no objection, Postfix goes on (DUNNO, never OK).
  assert.equal(await client.ask({ client_address: '127.0.0.3', client_port: 1001, instance: 'i1' }), 'DUNNO');
  // The earlier stages, asked for on their own.
  for (const state of ['CONNECT', 'EHLO', 'MAIL']) {
    assert.equal(await client.ask({ protocol_state: state, client_address: '127.0.0.3', client_port: 1002, instance: `i-${state}` }), 'DUNNO', state);
  }

  // A relay attempt: the reply the front door sends, code, enhanced code and text.
  const relay = await client.ask({ client_address: '127.0.0.3', client_port: 1003, instance: 'i2', recipient: 'victim@foreign.test' });
  assert.equal(relay, formatReply(replyFor('relay.denied', 'victim@foreign.test')));
  assert.equal(relay, await frontDoorRcpt(harness, '127.0.0.3', 'victim@foreign.test'));

  // A DNSBL-listed client: the same refusal as at the front door.
  const listed = await client.ask({ client_address: LISTED, client_port: 1004, instance: 'i3' });
  assert.match(listed ?? '', /^554 5\.7\.1 /);
  assert.equal(listed, await frontDoorRcpt(harness, LISTED, 'bob@example.test'));

  // A client in relay-networks sending out: OK (Postfix's permit_mynetworks), as is an authenticated user.
  assert.equal(await client.ask({ client_address: '127.0.0.1', client_port: 1005, instance: 'i4', recipient: 'carol@foreign.test' }), 'OK');

  // The decision log has each, marked as the policy service's.
  await waitFor(() => harness.logs.some((l) => l.msg === 'decision' && l.reason === 'relay.denied' && l.source === 'policy service'), 5000, 'relay refusal logged');
  const relayLine = harness.logs.find((l) => l.msg === 'decision' && l.reason === 'relay.denied' && l.source === 'policy service');
  assert.equal(relayLine?.to, 'victim@foreign.test');
  assert.equal(relayLine?.client, '127.0.0.3');
  assert.ok(harness.logs.some((l) => l.msg === 'decision' && l.reason === 'dnsbl.listed' && l.source === 'policy service'));

  // Metrics count decisions by source; the dashboard marks the refusal as the policy service's.
  const text = await harness.relay.dashboard?.metrics.render();
  assert.match(text ?? '', /relayguard_decisions_by_source_total\{source="policy_service",verdict="reject"\} 2/);
  assert.match(text ?? '', /relayguard_policy_service_answers_total\{action="reject"\} 2\n/);
  assert.match(text ?? '', /relayguard_policy_service_answers_total\{action="ok"\} 1\n/);
  const snapshot = harness.relay.dashboard?.traffic.snapshot();
  assert.ok(snapshot?.recentRefusals.some((r) => r.reason === 'relay.denied' && r.source === 'policy service'));
  assert.ok(snapshot?.recentRefusals.some((r) => r.reason === 'relay.denied' && r.source === undefined), 'and the front door\'s own is unmarked');
});

test('pipelined requests are answered in order on one connection; unknown attributes are ignored', async (t) => {
  const { connect } = await setup(t);
  const client = await connect();
  const requests = [
    postfixRequest({ client_address: '127.0.0.3', client_port: 2001, instance: 'p1', recipient: 'victim@foreign.test', some_future_attribute: 'x=y' }),
    postfixRequest({ client_address: '127.0.0.3', client_port: 2001, instance: 'p1', recipient: 'bob@example.test' }),
    postfixRequest({ client_address: LISTED, client_port: 2002, instance: 'p2' }),
    postfixRequest({ client_address: '127.0.0.1', client_port: 2003, instance: 'p3', recipient: 'out@foreign.test' }),
  ];
  client.write(requests.join(''));
  const answers = [];
  for (let i = 0; i < requests.length; i++) answers.push(actionOf((await client.read()) ?? 'closed'));
  assert.equal(answers[0], formatReply(replyFor('relay.denied', 'victim@foreign.test')));
  assert.equal(answers[1], 'DUNNO');
  assert.match(answers[2] ?? '', /^554 5\.7\.1 /);
  assert.equal(answers[3], 'OK');
});

test('a message counts once per instance however many recipients; the next over the limit is deferred', async (t) => {
  const { connect, harness } = await setup(t, { policies: { 'limits.toml': '[ip]\nmessages = "2/1m"\n' } });
  const client = await connect();
  const ask = (instance: string, recipient: string) => client.ask({ client_address: '127.0.0.3', client_port: 3001, instance, recipient });
  for (const instance of ['m1', 'm2']) {
    for (let i = 0; i < 10; i++) assert.equal(await ask(instance, `user${i}@example.test`), 'DUNNO', `${instance} recipient ${i}`);
    // Postfix asks again for the same recipient (the policy in two restriction lists): the same answer, not counted again.
    assert.equal(await ask(instance, 'user0@example.test'), 'DUNNO');
  }
  assert.equal(await ask('m3', 'user0@example.test'), formatReply(replyFor('mail.rate')));
  // Once refused, every recipient of that message hears the same.
  assert.equal(await ask('m3', 'user1@example.test'), formatReply(replyFor('mail.rate')));
  // Another client is not held back.
  assert.equal(await client.ask({ client_address: '127.0.0.4', client_port: 3002, instance: 'm4' }), 'DUNNO');
  assert.equal(harness.logs.filter((l) => l.msg === 'decision' && l.reason === 'mail.rate').length, 1, 'one refusal logged per message');
});

test('garbage and over-long lines close only their own connection, with one log line each', async (t) => {
  const { connect, harness } = await setup(t);
  const good = await connect();
  const garbage = await connect();
  const long = await connect();

  // Answered first, then closed: the request before the garbage still gets its answer.
  garbage.write(`${postfixRequest({ client_address: '127.0.0.3', client_port: 4001, instance: 'g1' })}GET / HTTP/1.1\r\n\r\n`);
  assert.equal(actionOf((await garbage.read()) ?? 'closed'), 'DUNNO');
  assert.equal(await garbage.closedByServer(), true);

  long.write(`request=smtpd_access_policy\nrecipient=${'a'.repeat(100_000)}`);
  assert.equal(await long.closedByServer(), true);

  const nul = await connect();
  nul.write('request=smtpd_access_policy\nhelo_name=a\0b\n\n');
  assert.equal(await nul.closedByServer(), true);

  assert.equal(await good.ask({ client_address: '127.0.0.3', client_port: 4002, instance: 'g2' }), 'DUNNO');
  const bad = harness.logs.filter((l) => l.event === 'policy_service.bad_input');
  assert.deepEqual(bad.map((l) => l.problem).sort(), ['line_too_long', 'not_an_attribute', 'nul_byte']);
});

test('a request that is not smtpd_access_policy, or for a stage not judged, gets DUNNO and a log line', async (t) => {
  const { connect, harness } = await setup(t);
  const client = await connect();
  assert.equal(await client.ask({ request: 'something_else' }), 'DUNNO');
  assert.equal(await client.ask({ request: undefined }), 'DUNNO');
  assert.equal(await client.ask({ protocol_state: 'VRFY' }), 'DUNNO');
  assert.equal(await client.ask({ client_address: 'unknown' }), 'DUNNO');
  assert.equal(harness.logs.filter((l) => l.event === 'policy_service.not_access_policy').length, 2);
  assert.equal(harness.logs.filter((l) => l.event === 'policy_service.not_judged').length, 2);
  // The connection stays usable.
  assert.equal(await client.ask({ client_address: '127.0.0.3', client_port: 5001, instance: 'n1', recipient: 'victim@foreign.test' }), formatReply(replyFor('relay.denied', 'victim@foreign.test')));
});

test('a slow client blocks nobody; a request past its time budget is answered DEFER_IF_PERMIT', async (t) => {
  const { connect, dns, harness } = await setup(t, { policyService: 'request_timeout = "300ms"\n', dnsTimeout: '3s' });
  // Half a request, then silence.
  const slow = await connect();
  slow.write('request=smtpd_access_policy\nprotocol_state=RCPT\nclient_addr');
  const other = await connect();
  assert.equal(await other.ask({ client_address: '127.0.0.3', client_port: 6001, instance: 's1' }), 'DUNNO');

  // A DNSBL that does not answer: the request runs out of its 300 ms, Postfix hears DEFER_IF_PERMIT.
  dns.timeout(`${'127.0.0.9'.split('.').reverse().join('.')}.${ZONE}`);
  const started = Date.now();
  assert.equal(await other.ask({ client_address: '127.0.0.9', client_port: 6002, instance: 's2' }), 'DEFER_IF_PERMIT Service temporarily unavailable');
  assert.ok(Date.now() - started < 2500, 'answered within the budget, not after the DNS timeout');
  // The same connection goes on answering.
  assert.equal(await other.ask({ client_address: '127.0.0.3', client_port: 6003, instance: 's3' }), 'DUNNO');
  assert.ok(harness.logs.some((l) => l.msg === 'decision' && l.reason === 'policy_service.timeout'));
  // The slow one finishes its request and is answered too.
  slow.write('ess=127.0.0.3\nclient_port=6004\nsender=a@b.example\nrecipient=bob@example.test\ninstance=s4\n\n');
  assert.equal(actionOf((await slow.read()) ?? 'closed'), 'DUNNO');
});

test('decision_header: PREPEND on the first permitted recipient of each message only', async (t) => {
  const { connect } = await setup(t, { policyService: 'decision_header = "X-Relayguard"\nok_for_trusted = false\n' });
  const client = await connect();
  const first = await client.ask({ client_address: '127.0.0.3', client_port: 7001, instance: 'h1', recipient: 'a@example.test' });
  assert.match(first ?? '', /^PREPEND X-Relayguard: pass \(relay\.test; rule=local-domains; reason=rcpt\.local_domain\)$/);
  assert.equal(await client.ask({ client_address: '127.0.0.3', client_port: 7001, instance: 'h1', recipient: 'b@example.test' }), 'DUNNO');
  // ok_for_trusted = false: a trusted client's later recipients hear DUNNO, not OK.
  assert.match((await client.ask({ client_address: '127.0.0.1', client_port: 7002, instance: 'h2', recipient: 'x@foreign.test' })) ?? '', /^PREPEND X-Relayguard: pass /);
  assert.equal(await client.ask({ client_address: '127.0.0.1', client_port: 7002, instance: 'h2', recipient: 'y@foreign.test' }), 'DUNNO');
});

test('an authenticated Postfix user relays (OK) and is held to its sender addresses', async (t) => {
  // Postfix checked the password; relayguard's users.toml still says which senders alice may use.
  const users = await usersToml([{ name: 'alice', password: 'unused-here', senders: ['alice@sender.example'] }]);
  const { connect } = await setup(t, { policies: { 'users.toml': users } });
  const client = await connect();
  const base = { client_address: '127.0.0.3', server_port: 587, sasl_method: 'PLAIN', sasl_username: 'alice', encryption_protocol: 'TLSv1.3' };
  assert.equal(await client.ask({ ...base, client_port: 8001, instance: 'u1', recipient: 'friend@foreign.test' }), 'OK');
  assert.equal(
    await client.ask({ ...base, client_port: 8002, instance: 'u2', sender: 'ceo@sender.example', recipient: 'friend@foreign.test' }),
    formatReply(replyFor('mail.sender_not_owned', 'alice')),
  );
  // On the submission port without AUTH: the front door's 530.
  assert.equal(await client.ask({ client_address: '127.0.0.3', server_port: 587, client_port: 8003, instance: 'u3' }), formatReply(replyFor('mail.auth_required')));
});

test('a Unix socket instead of TCP', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-policy-sock-'));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }).catch(() => undefined));
  const socket = path.join(dir, 'policy.sock');
  const dns = await startDnsServer();
  const harness = await startHarness({
    deliveryWorker: false,
    config: `${HARNESS_LISTENERS}[dns]\nservers = ["${dns.address}"]\n[policy_service]\nenabled = true\nsocket = "${socket}"\nsocket_mode = "0666"\n`,
    policies: { 'local-domains': 'example.test\n', 'relay-networks': '127.0.0.1\n' },
  });
  t.after(async () => {
    await harness.stop();
    await dns.close();
  });
  assert.deepEqual(harness.relay.policy, { kind: 'unix', path: socket });
  const client = await PolicyClient.connect({ path: socket });
  t.after(() => client.close());
  assert.equal(await client.ask({ client_address: '127.0.0.3', instance: 'x1', recipient: 'victim@foreign.test' }), formatReply(replyFor('relay.denied', 'victim@foreign.test')));
});

test('a client that pipelines hundreds of requests without reading is answered, in order (read 64 requests ahead at most)', async (t) => {
  const { connect } = await setup(t, { policies: { 'limits.toml': '[ip]\nmessages = "100000/1h"\nrecipients = "100000/1h"\n' } });
  const client = await connect();
  const count = 300;
  const requests: string[] = [];
  for (let i = 0; i < count; i++) {
    requests.push(postfixRequest({ client_address: '127.0.0.3', client_port: 9001, instance: `f${i}`, recipient: i % 2 === 0 ? 'bob@example.test' : `v${i}@foreign.test` }));
  }
  client.write(requests.join(''));
  for (let i = 0; i < count; i++) {
    const action = actionOf((await client.read()) ?? 'closed');
    assert.equal(action, i % 2 === 0 ? 'DUNNO' : formatReply(replyFor('relay.denied', `v${i}@foreign.test`)), `answer ${i}`);
  }
});

test('many short SMTP sessions from one client are never refused as open connections; the connection rate counts each session once', async (t) => {
  // Postfix never says when an SMTP session ends: a session is held session_idle (60 s) after
  // its last request. Counted as open, 300 sequential sessions would pass ip.max_connections = 2
  // (and global.max_connections = 3) within a second; Postfix's anvil limits concurrency instead.
  const { connect, harness } = await setup(t, { policies: { 'limits.toml': '[global]\nmax_connections = 3\n\n[ip]\nmax_connections = 2\nconnections = "305/1m"\nmessages = "off"\nrecipients = "off"\n' } });
  const client = await connect();
  // Postfix's instance: smtpd pid, MAIL time (s, us), and the transaction's number in its session, in hex.
  const instance = (pid: number, usec: number, seqno: number): string => `${pid.toString(16)}.6f2e1d00.${usec.toString(16)}.${seqno}`;
  for (let n = 0; n < 300; n++) {
    const ask = (seqno: number, recipient: string) =>
      client.ask({ client_address: '127.0.0.3', client_port: 20_000 + n, instance: instance(4000 + (n % 7), n * 10 + seqno, seqno), recipient });
    // Two messages per session (the second has seqno 1: the same session), two recipients each.
    for (const seqno of [0, 1]) {
      for (const recipient of ['bob@example.test', 'carol@example.test']) assert.equal(await ask(seqno, recipient), 'DUNNO', `session ${n} message ${seqno} ${recipient}`);
    }
  }
  assert.equal(harness.relay.policyService?.sessionCount, 300, 'the sessions are still held (session_idle), just not counted as open');
  // The connection rate still applies, one count per session: sessions 301 to 305 pass, the 306th is refused.
  for (let n = 300; n < 305; n++) {
    assert.equal(await client.ask({ client_address: '127.0.0.3', client_port: 20_000 + n, instance: instance(4000, n * 10, 0) }), 'DUNNO', `session ${n}`);
  }
  // The 306th reuses the client port of the first (held) session; its instance (seqno 0 again) says it is a new session.
  assert.equal(await client.ask({ client_address: '127.0.0.3', client_port: 20_000, instance: instance(4000, 99_999, 0) }), formatReply(replyFor('conn.rate')));
  assert.equal(harness.relay.policyService?.sessionCount, 305);
  // Another client is not affected.
  assert.equal(await client.ask({ client_address: '127.0.0.4', client_port: 20_000, instance: instance(4000, 1, 0) }), 'DUNNO');
  const rate = harness.logs.find((l) => l.msg === 'decision' && l.reason === 'conn.rate' && l.source === 'policy service');
  assert.ok(rate, 'the connection-rate refusal is logged as the policy service\'s');
  assert.equal(harness.logs.filter((l) => l.msg === 'decision' && (l.reason === 'conn.limit' || l.reason === 'conn.global_limit')).length, 0);
});

test('smtp.max_recipients is the front door\'s: a Postfix message with more recipients is Postfix\'s to limit (smtpd_recipient_limit)', async (t) => {
  const { connect } = await setup(t, { policyService: '', policies: { 'limits.toml': '[ip]\nrecipients = "off"\n' } });
  const client = await connect();
  for (let i = 0; i < 150; i++) {
    assert.equal(await client.ask({ client_address: '127.0.0.3', client_port: 5001, instance: 'big.1', recipient: `user${i}@example.test` }), 'DUNNO', `recipient ${i + 1}`);
  }
});

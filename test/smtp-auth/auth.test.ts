// Issue 5 end to end: SASL AUTH through the whole relay (startRelay) over real
// sockets, with nodemailer as the TLS mail client and smtp-talk where the
// exact reply matters. Users come from a real users.toml with real scrypt
// hashes; authenticated mail goes out to a recording upstream sink. The lines
// `relayguard passwd` prints, used for a login: auth.slow.ts (a child process).
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, smarthostTo, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { usersToml } from '../helpers/auth-fixtures.ts';
import { authPlainLine, openSession, replyLine, submit } from '../helpers/e2e-auth-clients.ts';

const ALICE = { name: 'alice@example.test', password: 'correct horse battery staple', senders: ['alice@example.test'] };
const BOB = { name: 'bob@example.test', password: 'b0b-s3cret-pw', senders: ['bob@example.test', '*@sales.example.test'] };
const WRONG = 'not-the-password-42';
const SECRETS = [ALICE.password, BOB.password, WRONG];

const POLICIES_BASE = { 'local-domains': 'example.test\n', 'relay-networks': '' };

/** [auth] generous enough that the failures of one test never slow down or lock the next. */
const RELAXED_AUTH = `
[auth]
failures_before_delay = 50
failures_before_lockout = 100
`;

function decisionLines(harness: RelayHarness, reason: string): Array<Record<string, unknown>> {
  return harness.logs.filter((line) => line.msg === 'decision' && line.reason === reason);
}

/** The password in every spelling a leak could take (plain, in AUTH PLAIN / LOGIN base64). */
function secretSpellings(secret: string, users: readonly string[]): string[] {
  const spellings = [secret, Buffer.from(secret).toString('base64')];
  for (const user of users) spellings.push(Buffer.from(`\0${user}\0${secret}`).toString('base64'));
  return spellings;
}

function assertNoSecretsLogged(harness: RelayHarness): void {
  const text = harness.logs.map((line) => JSON.stringify(line)).join('\n');
  assert.ok(harness.logs.length > 0, 'there are log lines to look at');
  for (const secret of SECRETS) {
    for (const spelling of secretSpellings(secret, [ALICE.name, BOB.name, 'nobody@example.test'])) {
      assert.ok(!text.includes(spelling), `a password (${secret}) appears in the logs`);
    }
  }
}

describe('AUTH through the relay', () => {
  let sink: SmtpSink;
  let harness: RelayHarness;

  before(async () => {
    sink = await startSmtpSink();
    harness = await startHarness({
      deliveryWorker: false,
      config: HARNESS_LISTENERS + smarthostTo(sink.port) + RELAXED_AUTH,
      policies: { ...POLICIES_BASE, 'users.toml': await usersToml([ALICE, BOB]) },
      // Everything the relay logs, debug included, is searched for passwords at the end.
      logLevel: 'trace',
    });
  });

  after(async () => {
    await harness.stop();
    await sink.close();
  });

  it('before STARTTLS: AUTH is not advertised, and AUTH is refused with 538 5.7.11 and a Decision', async () => {
    const { talk, ehlo } = await openSession(harness.port('submission'), false);
    try {
      assert.ok(ehlo.lines.some((line) => /STARTTLS/.test(line)), 'STARTTLS is offered');
      assert.ok(!ehlo.lines.some((line) => /\bAUTH\b/.test(line)), `no AUTH before TLS: ${ehlo.lines.join(' | ')}`);
      const plain = await talk.command(authPlainLine(ALICE.name, ALICE.password));
      assert.equal(replyLine(plain), '538 5.7.11 Encryption required for requested authentication mechanism');
      const login = await talk.command('AUTH LOGIN');
      assert.equal(replyLine(login), '538 5.7.11 Encryption required for requested authentication mechanism');
    } finally {
      talk.close();
    }
    await waitFor(() => decisionLines(harness, 'auth.tls_required').length >= 2, 2000, 'auth.tls_required decisions');
    const line = decisionLines(harness, 'auth.tls_required')[0] as Record<string, unknown>;
    assert.equal(line.decision, 'reject');
    assert.equal(line.stage, 'auth');
    assert.equal(line.client, '127.0.0.1');
    assert.equal(line.listener, 'submission');
    assert.equal(line.reply, '538 5.7.11 Encryption required for requested authentication mechanism');
  });

  it('after STARTTLS AUTH is advertised, PLAIN and LOGIN succeed (235 2.7.0)', async () => {
    const { talk, ehlo } = await openSession(harness.port('submission'), 'starttls');
    try {
      assert.ok(ehlo.lines.some((line) => /^250[- ]AUTH PLAIN LOGIN$/.test(line)), `AUTH after TLS: ${ehlo.lines.join(' | ')}`);
      const reply = await talk.command(authPlainLine(ALICE.name, ALICE.password));
      assert.equal(reply.code, 235);
      assert.match(replyLine(reply), /^235 2\.7\.0 /);
    } finally {
      talk.close();
    }
    const login = await openSession(harness.port('submission'), 'starttls');
    try {
      assert.equal((await login.talk.command('AUTH LOGIN')).code, 334);
      assert.equal((await login.talk.command(Buffer.from(BOB.name).toString('base64'))).code, 334);
      assert.equal((await login.talk.command(Buffer.from(BOB.password).toString('base64'))).code, 235);
    } finally {
      login.talk.close();
    }
  });

  it('the mx listener offers no AUTH, even after STARTTLS', async () => {
    const { talk, ehlo } = await openSession(harness.port('mx'), 'starttls');
    try {
      assert.ok(!ehlo.lines.some((line) => /\bAUTH\b/.test(line)), ehlo.lines.join(' | '));
      const reply = await talk.command(authPlainLine(ALICE.name, ALICE.password));
      assert.equal(replyLine(reply), '500 5.5.2 Error: command not recognized');
    } finally {
      talk.close();
    }
  });

  for (const method of ['PLAIN', 'LOGIN'] as const) {
    for (const listener of ['submission', 'submissions'] as const) {
      it(`nodemailer, AUTH ${method} on ${listener} (${listener === 'submission' ? 'STARTTLS' : 'implicit TLS'}): the message is queued`, async () => {
        const outcome = await submit({
          port: harness.port(listener),
          implicitTls: listener === 'submissions',
          user: ALICE.name,
          pass: ALICE.password,
          method,
          from: ALICE.name,
          to: ['carol@example.test'],
          subject: `${method}-${listener}`,
        });
        assert.ok(outcome.ok, outcome.response);
        assert.match(outcome.response, /^250 2\.0\.0 Ok: queued as \S+$/);
      });
    }
  }

  it('wrong password and unknown user: the same 535 5.7.8, both logged as auth.failed', async () => {
    const before = decisionLines(harness, 'auth.failed').length;
    const wrong = await submit({ port: harness.port('submissions'), implicitTls: true, user: ALICE.name, pass: WRONG, method: 'PLAIN', from: ALICE.name, to: ['carol@example.test'] });
    const unknown = await submit({ port: harness.port('submissions'), implicitTls: true, user: 'nobody@example.test', pass: WRONG, method: 'PLAIN', from: ALICE.name, to: ['carol@example.test'] });
    assert.equal(wrong.ok, false);
    assert.equal(wrong.errorCode, 'EAUTH');
    assert.equal(wrong.response, '535 5.7.8 Authentication credentials invalid');
    assert.equal(unknown.response, wrong.response, 'an unknown user hears exactly what a wrong password hears');
    // The same with LOGIN, byte for byte, over STARTTLS.
    const replies: string[] = [];
    for (const user of [ALICE.name, 'nobody@example.test']) {
      const { talk } = await openSession(harness.port('submission'), 'starttls');
      try {
        await talk.command('AUTH LOGIN');
        await talk.command(Buffer.from(user).toString('base64'));
        replies.push(replyLine(await talk.command(Buffer.from(WRONG).toString('base64'))));
      } finally {
        talk.close();
      }
    }
    assert.deepEqual(replies, ['535 5.7.8 Authentication credentials invalid', '535 5.7.8 Authentication credentials invalid']);
    await waitFor(() => decisionLines(harness, 'auth.failed').length >= before + 4, 2000, 'four auth.failed decisions');
    const failed = decisionLines(harness, 'auth.failed').slice(before);
    assert.ok(failed.every((line) => line.stage === 'auth' && line.client === '127.0.0.1'));
  });

  it('MAIL FROM without AUTH on a submission listener: 530 5.7.0 (before and after TLS)', async () => {
    for (const mode of [false, 'starttls'] as const) {
      const { talk } = await openSession(harness.port('submission'), mode);
      try {
        assert.equal(replyLine(await talk.command('MAIL FROM:<alice@example.test>')), '530 5.7.0 Authentication required');
      } finally {
        talk.close();
      }
    }
    const implicit = await openSession(harness.port('submissions'), true);
    try {
      assert.equal(replyLine(await implicit.talk.command('MAIL FROM:<alice@example.test>')), '530 5.7.0 Authentication required');
    } finally {
      implicit.talk.close();
    }
  });

  it('an authenticated user relays to a foreign domain: it arrives upstream with ESMTPSA', async () => {
    const already = sink.messages.length;
    const outcome = await submit({
      port: harness.port('submission'),
      user: BOB.name,
      pass: BOB.password,
      method: 'PLAIN',
      from: 'bob@sales.example.test',
      to: ['someone@foreign.test'],
      subject: 'relayed',
    });
    assert.ok(outcome.ok, outcome.response);
    const queueId = /queued as (\S+)/.exec(outcome.response)?.[1] as string;
    await waitFor(() => sink.messages.some((m) => m.raw.toString().includes('Subject: relayed')), 10_000, 'the message at the sink');
    const arrived = sink.messages.slice(already).find((m) => m.raw.toString().includes('Subject: relayed'));
    assert.ok(arrived);
    assert.equal(arrived.from, 'bob@sales.example.test');
    assert.deepEqual(arrived.to, ['someone@foreign.test']);
    const text = arrived.raw.toString('latin1');
    assert.match(text, new RegExp(`^Received: from client\\.test \\(\\[127\\.0\\.0\\.1\\]\\)\\r\\n\\tby relay\\.test \\(relayguard\\) with ESMTPSA id ${queueId}\\r\\n\\tfor <someone@foreign\\.test>;`));
    const relayed = harness.logs.find((line) => line.msg === 'decision' && line.reason === 'relay.authenticated' && line.to === 'someone@foreign.test');
    assert.ok(relayed, 'the relay decision names the authenticated user');
    assert.equal(relayed.user, BOB.name);
  });

  it('an authenticated user cannot send as someone else: 553 5.7.1', async () => {
    const { talk } = await openSession(harness.port('submissions'), true);
    try {
      assert.equal((await talk.command(authPlainLine(ALICE.name, ALICE.password))).code, 235);
      const other = await talk.command('MAIL FROM:<bob@example.test>');
      assert.equal(other.code, 553);
      assert.match(replyLine(other), /^553 5\.7\.1 /);
      // Her own address still works on the same connection.
      assert.equal((await talk.command('MAIL FROM:<alice@example.test>')).code, 250);
    } finally {
      talk.close();
    }
    const outcome = await submit({ port: harness.port('submission'), user: ALICE.name, pass: ALICE.password, from: 'bob@example.test', to: ['carol@example.test'] });
    assert.equal(outcome.ok, false);
    assert.equal(outcome.code, 553);
    assert.ok(decisionLines(harness, 'mail.sender_not_owned').some((line) => line.user === ALICE.name && line.from === 'bob@example.test'));
  });

  it('no password ever reaches the logs', async () => {
    // Every test above ran against this harness: successes, failures, LOGIN, PLAIN.
    await waitFor(() => harness.logs.some((line) => line.msg === 'connection closed'), 2000, 'connection lines');
    assert.ok(decisionLines(harness, 'auth.ok').length >= 5, 'successful logins were logged');
    assertNoSecretsLogged(harness);
    // Nor the dashboard's JSON and metrics.
    const http = harness.relay.http as { host: string; port: number };
    for (const route of ['/api/status', '/metrics']) {
      const response = await fetch(`http://${http.host}:${http.port}${route}`);
      assert.equal(response.status, 200, route);
      const body = await response.text();
      for (const secret of SECRETS) assert.ok(!body.includes(secret), `a password appears in ${route}`);
    }
  });
});

test('lockout: after repeated failures 454 4.7.0 even for the right password, and it ends after its period', async (t) => {
  const sink = await startSmtpSink();
  const harness = await startHarness({
    deliveryWorker: false,
    config:
      HARNESS_LISTENERS +
      smarthostTo(sink.port) +
      `
[auth]
failures_before_delay = 2
failure_delay = "300ms"
failures_before_lockout = 3
failure_window = "1m"
lockout = "3s"
`,
    policies: { ...POLICIES_BASE, 'users.toml': await usersToml([ALICE]) },
  });
  t.after(async () => {
    await harness.stop();
    await sink.close();
  });
  const port = harness.port('submissions');
  const attempt = async (pass: string): Promise<{ reply: string; ms: number }> => {
    const { talk } = await openSession(port, true);
    try {
      const started = Date.now();
      const reply = replyLine(await talk.command(authPlainLine(ALICE.name, pass)));
      return { reply, ms: Date.now() - started };
    } finally {
      talk.close();
    }
  };
  assert.equal((await attempt(WRONG)).reply, '535 5.7.8 Authentication credentials invalid');
  assert.equal((await attempt(WRONG)).reply, '535 5.7.8 Authentication credentials invalid');
  // The third failure is delayed (failures_before_delay = 2) and locks (failures_before_lockout = 3).
  const third = await attempt(WRONG);
  assert.equal(third.reply, '535 5.7.8 Authentication credentials invalid');
  assert.ok(third.ms >= 250, `the third attempt waited failure_delay (${third.ms} ms)`);
  const locked = await attempt(ALICE.password);
  assert.equal(locked.reply, '454 4.7.0 Too many failed authentication attempts, try again later');
  const lockedLine = harness.logs.find((line) => line.msg === 'decision' && line.reason === 'auth.locked');
  assert.ok(lockedLine, 'the lockout is a Decision in the log');
  assert.equal(lockedLine.decision, 'defer');
  const lockedAt = Date.now();
  assert.equal(lockedLine.detail && (lockedLine.detail as Record<string, unknown>).locked, 'ip+user');
  // Still locked a moment later (a lockout attempt does not count as a failure, nor lift it).
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal((await attempt(ALICE.password)).reply, '454 4.7.0 Too many failed authentication attempts, try again later');
  // After the lockout period (3s) the right password works again.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 3000 - (Date.now() - lockedAt))));
  let last = '';
  for (let tries = 0; tries < 20 && !last.startsWith('235 '); tries++) {
    if (tries > 0) await new Promise((resolve) => setTimeout(resolve, 200));
    last = (await attempt(ALICE.password)).reply;
  }
  assert.match(last, /^235 2\.7\.0 /, 'the lockout ended');
  const sent = await submit({ port, implicitTls: true, user: ALICE.name, pass: ALICE.password, from: ALICE.name, to: ['carol@example.test'] });
  assert.ok(sent.ok, sent.response);
});

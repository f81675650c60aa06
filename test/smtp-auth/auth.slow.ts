// What `relayguard passwd` prints (a real child process), pasted into
// users.toml, works for a login through the whole relay: the slow half of
// auth.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, smarthostTo, startHarness } from '../helpers/relay-harness.ts';
import { submit } from '../helpers/e2e-auth-clients.ts';
import { runBin } from '../helpers/cli-run.ts';

// As in auth.test.ts.
const POLICIES_BASE = { 'local-domains': 'example.test\n', 'relay-networks': '' };

/** Runs `relayguard passwd ARGS` in a child process with `input` on stdin. */
const runPasswd = (args: readonly string[], input: string) => runBin(['passwd', ...args], input);

test('the lines printed by `relayguard passwd`, pasted into users.toml, work for a login', async (t) => {
  const password = 'pa$$ "quoted" wörd';
  // `passwd alice`: a bare user name; the admin fills in senders as told.
  const bare = await runPasswd(['alice'], `${password}\n`);
  assert.equal(bare.code, 0, bare.stderr);
  assert.match(bare.stdout, /^\[\[users\]\]\nname = "alice"\nhash = "\$scrypt\$ln=\d+,r=\d+,p=\d+\$[^"]+"\nsenders = \[\]\n$/);
  assert.match(bare.stderr, /fill in senders/);
  assert.ok(!bare.stdout.includes(password) && !bare.stderr.includes(password), 'passwd never prints the password');
  // `passwd carol@example.test`: an address is its own sender; pasted as printed.
  const address = await runPasswd(['carol@example.test'], `${password}\n`);
  assert.equal(address.code, 0, address.stderr);
  const usersFile = `${bare.stdout.replace('senders = []', 'senders = ["alice@example.test"]')}\n${address.stdout}`;

  const sink = await startSmtpSink();
  const harness = await startHarness({ config: HARNESS_LISTENERS + smarthostTo(sink.port), policies: { ...POLICIES_BASE, 'users.toml': usersFile } });
  t.after(async () => {
    await harness.stop();
    await sink.close();
  });
  for (const [user, from] of [['alice', 'alice@example.test'], ['carol@example.test', 'carol@example.test']] as const) {
    const sent = await submit({ port: harness.port('submission'), user, pass: password, method: 'LOGIN', from, to: ['someone@foreign.test'], subject: `passwd-${user}` });
    assert.ok(sent.ok, `${user}: ${sent.response}`);
  }
  await sink.waitFor(2);
  const wrong = await submit({ port: harness.port('submission'), user: 'alice', pass: `${password}x`, from: 'alice@example.test', to: ['someone@foreign.test'] });
  assert.equal(wrong.response, '535 5.7.8 Authentication credentials invalid');
});

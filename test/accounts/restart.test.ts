// A lock survives a restart of the relay (data_dir/accounts.json): the
// locked user still gets 535 5.7.8 until released. (Holds are kept the same
// way; test/accounts/account-monitor.test.ts reads them back.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestConfig } from '../helpers/test-config.ts';
import { HARNESS_LISTENERS } from '../helpers/relay-harness.ts';
import { usersToml } from '../helpers/auth-fixtures.ts';
import { authPlainLine, openSession, replyLine } from '../helpers/e2e-auth-clients.ts';
import { startRelay, type Relay } from '../../src/main.ts';
import { silentLogger } from '../../src/log/logger.ts';

const ALICE = { name: 'alice@example.test', password: 'alice-pw-7781' };
const BOB = { name: 'bob@example.test', password: 'bob-pw-1187' };

async function authReply(relay: Relay, user: { name: string; password: string }): Promise<string> {
  const port = relay.smtp.find((l) => l.name === 'submission')?.port ?? 0;
  const { talk } = await openSession(port, 'starttls');
  try {
    return replyLine(await talk.command(authPlainLine(user.name, user.password)));
  } finally {
    talk.close();
  }
}

test('a lock is kept across a restart', async (t) => {
  const dir = await makeTestConfig(`${HARNESS_LISTENERS}\n[delivery]\nworker = false\n`, {
    'local-domains': 'example.test\n',
    'relay-networks': '',
    'users.toml': await usersToml([ALICE, BOB]),
    'checks.toml': '[sender_domain]\nreject_unknown = false\n',
  });
  let relay: Relay | undefined;
  t.after(async () => {
    await relay?.stop().catch(() => undefined);
    await dir.cleanup();
  });
  relay = await startRelay({ configFile: dir.configFile, logger: silentLogger() });
  await relay.accounts?.lock(ALICE.name, 'test-admin');
  assert.equal(await authReply(relay, ALICE), '535 5.7.8 Authentication credentials invalid');
  await relay.stop();

  relay = await startRelay({ configFile: dir.configFile, logger: silentLogger() });
  assert.equal(await authReply(relay, ALICE), '535 5.7.8 Authentication credentials invalid', 'still locked after the restart');
  assert.match(await authReply(relay, BOB), /^235 /);
  assert.deepEqual(relay.accounts?.suspects().map((s) => [s.user, s.state]), [[ALICE.name, 'locked']]);
  assert.equal(await relay.accounts?.release(ALICE.name, 'test-admin', false), true);
  assert.match(await authReply(relay, ALICE), /^235 /);
});

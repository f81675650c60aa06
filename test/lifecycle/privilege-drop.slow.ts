// Started as root with [service] user, `relayguard serve` binds its ports and
// runs as that user before any client byte is read (issue 23, src/privileges.ts).
// Needs root (skipped otherwise) and the Debian user nobody:nogroup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chown, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_LISTENERS, makeTestConfig } from '../helpers/test-config.ts';
import { watchRelay } from '../helpers/relay-process.ts';
import { SmtpTalk } from '../helpers/smtp-talk.ts';

const root = process.geteuid?.() === 0;

async function ids(statusFile: string): Promise<{ uid: string; gid: string; groups: string }> {
  const status = await readFile(statusFile, 'utf8');
  const field = (name: string) => status.match(new RegExp(`^${name}:\\s*(.*)$`, 'm'))?.[1]?.trim() ?? '';
  return { uid: field('Uid'), gid: field('Gid'), groups: field('Groups') };
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(full, uid, gid);
    else await chown(full, uid, gid);
  }
}

test('started as root, serve binds and then runs as [service] user before the greeting', { skip: root ? false : 'needs root: the privilege drop is only tested when the tests run as root' }, async (t) => {
  const dir = await makeTestConfig(`log_level = "info"\n${DEFAULT_LISTENERS}\n[smtp]\ngreet_delay = "1s"\n\n[service]\nuser = "nobody"\ngroup = "nogroup"\n`, {
    'local-domains': 'example.test\n',
    'relay-networks': '127.0.0.1\n',
  });
  t.after(() => dir.cleanup());
  // What the README asks of an admin: config, policies and data_dir readable (data_dir writable) by the service user.
  await chownTree(dir.dir, 65534, 65534);

  const child = spawn(process.execPath, [path.resolve('bin/relayguard.js'), 'serve', '--config', dir.configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RELAYGUARD_RUN: 'sources' },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  t.after(async () => {
    clearTimeout(killer);
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  });
  const relay = watchRelay(child);
  const started = await relay.started;
  const mx = (started.smtp as Array<{ name: string; port: number }>).find((s) => s.name === 'mx')?.port as number;

  const talk = await SmtpTalk.connect({ port: mx, timeoutMs: 10_000 });
  try {
    // Connected, the greeting still 1 s away: every thread (the delivery worker's too) is nobody:nogroup, real, effective, saved and fs ids.
    const pid = child.pid as number;
    for (const task of await readdir(`/proc/${pid}/task`)) {
      const seen = await ids(`/proc/${pid}/task/${task}/status`).catch(() => undefined);
      if (!seen) continue; // a thread that ended meanwhile
      assert.equal(seen.uid, '65534\t65534\t65534\t65534', `thread ${task} Uid`);
      assert.equal(seen.gid, '65534\t65534\t65534\t65534', `thread ${task} Gid`);
      assert.equal(seen.groups, '65534', `thread ${task} Groups`);
    }
    const greeting = await talk.read();
    assert.equal(greeting?.code, 220);
    assert.equal((await talk.command('QUIT')).code, 221);
  } finally {
    talk.close();
  }
  // What it created in data_dir while starting belongs to the service user.
  for (const name of await readdir(path.join(dir.dir, 'data'))) {
    assert.equal((await stat(path.join(dir.dir, 'data', name))).uid, 65534, `data/${name} belongs to nobody`);
  }
  child.kill('SIGTERM');
  assert.equal(await exited, 0, `SIGTERM drains and exits 0: ${relay.stderr()}`);
});

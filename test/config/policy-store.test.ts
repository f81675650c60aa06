import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log/logger.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { openPolicyStore, type PolicyStore } from '../../src/config/policy-store.ts';
import type { PolicySnapshot } from '../../src/config/snapshot.ts';
import { createPolicyFixture, MINIMAL_CONFIG } from '../helpers/policy-files.ts';
import { waitFor, watchFor } from '../helpers/wait-for.ts';

function recordingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: createLogger('info', sink as never), lines };
}

/** Resolves on the next swap; rejects after `ms` so a broken watcher fails the test instead of hanging it. */
function nextSwap(store: PolicyStore, ms = 10_000): Promise<PolicySnapshot> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no reload within ${ms} ms`));
    }, ms);
    const off = store.onSwap((next) => {
      clearTimeout(timer);
      off();
      resolve(next);
    });
  });
}

/** Waits (bounded) until the last reload attempt is newer than `since`. */
async function nextAttempt(store: PolicyStore, since: Date, ms = 10_000): Promise<void> {
  await waitFor(() => store.lastReload.at.getTime() > since.getTime(), ms, 'a reload attempt');
}

test('a valid edit swaps in a new snapshot; the old one is unchanged for connections holding it', async (t) => {
  const fixture = await createPolicyFixture({ 'relay-networks': '192.0.2.0/24\n' });
  t.after(() => fixture.cleanup());
  const store = await openPolicyStore({ configFile: fixture.configFile, logger: recordingLogger().logger });
  const first = store.current();
  assert.equal(first.generation, 1);
  assert.equal(store.lastReload.ok, true);
  assert.equal(store.lastReload.reason, 'start');

  const swaps: Array<[number, number]> = [];
  store.onSwap((next, previous) => swaps.push([next.generation, previous.generation]));
  await fixture.write('relay-networks', '198.51.100.0/24\n');
  const result = await store.reload('test');
  assert.equal(result.ok, true);
  assert.equal(result.generation, 2);
  assert.deepEqual(result.errors, []);
  assert.equal(store.lastReload, result);
  assert.deepEqual(swaps, [[2, 1]]);

  const second = store.current();
  assert.notEqual(second, first);
  assert.equal(second.relayNetworks.contains('198.51.100.1'), true);
  assert.equal(second.relayNetworks.contains('192.0.2.1'), false);
  assert.equal(first.relayNetworks.contains('192.0.2.1'), true, 'a connection keeps the policy it started with');
});

test('an invalid edit keeps the old snapshot and records every problem', async (t) => {
  const fixture = await createPolicyFixture({ 'relay-networks': '192.0.2.0/24\n', 'local-domains': 'example.test\n' });
  t.after(() => fixture.cleanup());
  const { logger, lines } = recordingLogger();
  const store = await openPolicyStore({ configFile: fixture.configFile, logger });
  const before = store.current();
  let swapped = false;
  store.onSwap(() => (swapped = true));

  await fixture.write('relay-networks', '192.0.2.0/24\n10.0.0.1/8\n');
  await fixture.write('local-domains', 'example.test\n*.example.test\n');
  const result = await store.reload('test');
  assert.equal(result.ok, false);
  assert.equal(result.generation, 1);
  assert.equal(store.current(), before);
  assert.equal(swapped, false);
  assert.equal(store.lastReload, result);
  assert.equal(result.errors.length, 2);
  assert.ok(result.errors.some((e) => e.startsWith(`${fixture.policiesDir}/relay-networks:2: `)), result.errors.join('\n'));
  assert.ok(result.errors.some((e) => e.startsWith(`${fixture.policiesDir}/local-domains:2: `)), result.errors.join('\n'));
  for (const error of result.errors) assert.ok(lines.some((l) => l.msg === error), `logged: ${error}`);

  await fixture.write('relay-networks', '10.0.0.0/8\n');
  await fixture.write('local-domains', 'example.test\n');
  const fixed = await store.reload('test');
  assert.equal(fixed.ok, true);
  assert.equal(fixed.generation, 2, 'generations count successful loads only');
  assert.equal(store.current().relayNetworks.contains('10.1.2.3'), true);
});

test('an invalid config.toml at start is a ConfigError listing every problem', async (t) => {
  const fixture = await createPolicyFixture({ denylist: 'x\n' }, MINIMAL_CONFIG.replace('role = "mx"', 'role = "nope"'));
  t.after(() => fixture.cleanup());
  await assert.rejects(openPolicyStore({ configFile: fixture.configFile, logger: recordingLogger().logger }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.equal(error.problems.length, 2);
    return true;
  });
});

test('reloads never overlap; requests during a reload merge into one more', async (t) => {
  const fixture = await createPolicyFixture({ allowlist: '192.0.2.1\n' });
  t.after(() => fixture.cleanup());
  let active = 0;
  let maxActive = 0;
  let configReads = 0;
  const reader = {
    async readFile(file: string): Promise<string> {
      const isConfig = file === fixture.configFile;
      if (isConfig) {
        configReads++;
        active++;
        maxActive = Math.max(maxActive, active);
      }
      try {
        // Yield a few times so overlapping reloads would interleave here.
        for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
        return await readFile(file, 'utf8');
      } finally {
        if (isConfig) active--;
      }
    },
  };
  const store = await openPolicyStore({ configFile: fixture.configFile, logger: recordingLogger().logger, reader });
  configReads = 0;
  const results = await Promise.all([store.reload('a'), store.reload('b'), store.reload('c'), store.reload('d')]);
  assert.equal(maxActive, 1);
  assert.equal(configReads, 2, 'one reload running, one queued for everything that arrived meanwhile');
  assert.deepEqual(results.map((r) => r.generation), [2, 3, 3, 3]);
  assert.equal(results[1]?.reason, 'b; c; d');
  assert.equal(store.current().generation, 3);
});

test('watch: a rename-over-temp edit (editors, deploy tools) is picked up', async (t) => {
  const fixture = await createPolicyFixture({ denylist: '198.51.100.0/24 old reason\n' });
  t.after(() => fixture.cleanup());
  const store = await openPolicyStore({ configFile: fixture.configFile, logger: recordingLogger().logger, debounceMs: 50 });
  t.after(() => store.close());
  store.watch();

  let swap = nextSwap(store);
  await fixture.replace('denylist', '198.51.100.0/24 new reason\n');
  let next = await swap;
  assert.equal(next.denylist.lookup('198.51.100.9')?.reason, 'new reason');
  assert.match(store.lastReload.reason, /changed: denylist/);

  // Again: the watch must survive the first replacement (it follows the directory, not the inode).
  swap = nextSwap(store);
  await fixture.replace('denylist', '198.51.100.0/24 newer reason\n');
  next = await swap;
  assert.equal(next.denylist.lookup('198.51.100.9')?.reason, 'newer reason');

  // A file that did not exist before.
  swap = nextSwap(store);
  await fixture.write('local-domains', 'example.test\n');
  next = await swap;
  assert.equal(next.localDomains.has('example.test'), true);
});

test('watch: config.toml changes reload too, and an invalid watched edit keeps the old snapshot', async (t) => {
  const fixture = await createPolicyFixture({ 'relay-networks': '192.0.2.0/24\n' });
  t.after(() => fixture.cleanup());
  const store = await openPolicyStore({ configFile: fixture.configFile, logger: recordingLogger().logger, debounceMs: 50 });
  t.after(() => store.close());
  store.watch();

  const swap = nextSwap(store);
  await fixture.writeConfig(MINIMAL_CONFIG.replace('relay.example.test', 'mx.example.test'));
  assert.equal((await swap).config.hostname, 'mx.example.test');

  const before = store.current();
  const since = store.lastReload.at;
  await fixture.replace('relay-networks', 'garbage\n');
  await nextAttempt(store, since);
  assert.equal(store.lastReload.ok, false);
  assert.match(store.lastReload.errors[0] ?? '', /relay-networks:1: "garbage" is not an IP address/);
  assert.equal(store.current(), before);
});

test('watch: after policies_dir moves, the new directory is the one watched', async (t) => {
  const fixture = await createPolicyFixture({ allowlist: '192.0.2.1\n' });
  t.after(() => fixture.cleanup());
  const { mkdir, writeFile } = await import('node:fs/promises');
  const path = await import('node:path');
  const moved = path.join(fixture.dir, 'policies-v2');
  await mkdir(moved);
  await writeFile(path.join(moved, 'allowlist'), '192.0.2.2\n');
  const store = await openPolicyStore({ configFile: fixture.configFile, logger: recordingLogger().logger, debounceMs: 50 });
  t.after(() => store.close());
  store.watch();

  let swap = nextSwap(store);
  await fixture.writeConfig(MINIMAL_CONFIG.replace('./policies', './policies-v2'));
  assert.equal((await swap).allowlist.contains('192.0.2.2'), true);

  swap = nextSwap(store);
  await writeFile(path.join(moved, 'allowlist'), '192.0.2.3\n');
  assert.equal((await swap).allowlist.contains('192.0.2.3'), true);
  assert.match(store.lastReload.reason, /changed: allowlist/);
});

test('watch: a burst of writes is one reload', async (t) => {
  const fixture = await createPolicyFixture({ allowlist: '' });
  t.after(() => fixture.cleanup());
  // A long quiet period so the burst below is surely inside it, even on a busy machine.
  const store = await openPolicyStore({ configFile: fixture.configFile, logger: recordingLogger().logger, debounceMs: 1000 });
  t.after(() => store.close());
  store.watch();
  let reloads = 0;
  store.onSwap(() => reloads++);
  const swap = nextSwap(store);
  for (let i = 1; i <= 5; i++) await fixture.write('allowlist', `192.0.2.${i}\n`);
  const next = await swap;
  assert.equal(next.allowlist.contains('192.0.2.5'), true, 'the reload saw the last write');
  // A second reload would come from the debounce timer, within debounceMs (1 s) of the last write event.
  await watchFor(() => reloads > 1, 1500);
  assert.equal(reloads, 1);
  assert.equal(store.current().generation, 2);
});

test('unrelated files in the policies directory do not reload', async (t) => {
  const fixture = await createPolicyFixture({ allowlist: '' });
  t.after(() => fixture.cleanup());
  const store = await openPolicyStore({ configFile: fixture.configFile, logger: recordingLogger().logger, debounceMs: 50 });
  t.after(() => store.close());
  store.watch();
  let reloads = 0;
  store.onSwap(() => reloads++);
  await fixture.write('README', 'notes\n');
  await fixture.write('.allowlist.swp', 'x');
  // Then a real change: if the unrelated writes had triggered reloads, there would be more than one.
  const swap = nextSwap(store);
  await fixture.write('allowlist', '192.0.2.1\n');
  await swap;
  assert.equal(reloads, 1);
  assert.equal(store.lastReload.reason, 'changed: allowlist', 'no other name took part in the reload');
});

test('SIGHUP hook reloads', async (t) => {
  const fixture = await createPolicyFixture({ allowlist: '' });
  t.after(() => fixture.cleanup());
  const store = await openPolicyStore({ configFile: fixture.configFile, logger: recordingLogger().logger });
  const swap = nextSwap(store);
  await fixture.write('allowlist', '192.0.2.1\n');
  store.handleSighup();
  assert.equal((await swap).allowlist.contains('192.0.2.1'), true);
  assert.equal(store.lastReload.reason, 'SIGHUP');
});

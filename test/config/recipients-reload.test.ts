// policies/recipients reloads like every other policy file: the watcher picks
// up a new file, a valid edit swaps in a new snapshot (the old one unchanged),
// and a bad line keeps the previous map and reports file:line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log/logger.ts';
import { openPolicyStore } from '../../src/config/policy-store.ts';
import { createPolicyFixture } from '../helpers/policy-files.ts';
import { waitFor } from '../helpers/wait-for.ts';

const quiet = createLogger('error', new Writable({ write: (_c, _e, done) => done() }) as never);

test('policies/recipients: watched, swapped atomically, a bad edit keeps the previous map', async (t) => {
  const fixture = await createPolicyFixture({ 'local-domains': 'example.test\n' });
  t.after(() => fixture.cleanup());
  const store = await openPolicyStore({ configFile: fixture.configFile, logger: quiet, debounceMs: 50 });
  t.after(() => store.close());
  const first = store.current();
  assert.equal(first.recipients.lookup('carol', 'example.test'), 'unverified');

  store.watch();
  await fixture.write('recipients', 'alice@example.test\n');
  await waitFor(() => store.current().generation > 1, 10_000, 'a reload after recipients appeared');
  const second = store.current();
  assert.equal(second.recipients.lookup('carol', 'example.test'), 'unknown');
  assert.equal(second.recipients.lookup('Alice', 'example.test'), 'listed');
  assert.equal(first.recipients.lookup('carol', 'example.test'), 'unverified', 'the old snapshot is unchanged');

  await fixture.write('recipients', 'alice@example.test\nnot-an-address\n');
  const failed = await store.reload('test');
  assert.equal(failed.ok, false);
  assert.match(failed.errors[0] ?? '', /recipients:2: /);
  assert.equal(store.current(), second);
});

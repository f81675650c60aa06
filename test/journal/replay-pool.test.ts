// A replay on worker threads gives exactly the summary of a replay in one
// thread (counts, groups, examples, unknowns, read stats with a corrupt line),
// whatever the number of workers; and an empty journal starts none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_LISTENERS, makeTestConfig } from '../helpers/test-config.ts';
import { createSnapshot, loadPolicy } from '../../src/config/load-policy.ts';
import { frameRecord, segmentName } from '../../src/journal/journal-segment.ts';
import type { JournalRecord } from '../../src/journal/journal-record.ts';
import { replayJournal } from '../../src/journal/replay-run.ts';

function record(n: number, t: number): JournalRecord {
  const relay = n % 3 === 0;
  return {
    v: 1,
    id: `pool${n}`,
    t,
    ms: 40,
    l: 'mx',
    r: 'mx',
    ip: n % 5 === 0 ? `203.0.113.${n & 255}` : `198.51.${(n >> 8) & 255}.${n & 255}`,
    g: 1,
    dn: [['bl.test', 'client', n % 4 === 0 ? 'listed' : 'clean', ...(n % 4 === 0 ? [['127.0.0.2']] : [])]] as unknown as JournalRecord['dn'],
    s: [
      { c: 'connect', f: { cn: { c: { global: 1, ip: 1 } } }, d: [['dunno', 'connect', 'connect', 'ok']] },
      { c: 'mail', i: `x${n}@sender.test`, tls: false, h: 'client.test', e: true, f: {}, d: [['dunno', 'helo', 'helo', 'ok'], ['permit', 'mail', 'default', 'ok']] },
      {
        c: 'rcpt',
        i: relay ? `far${n}@foreign.test` : 'bob@example.test',
        f: { dn: 1 },
        d: [relay ? ['reject', 'rcpt', 'reject-relay', 'relay.denied'] : n % 4 === 0 ? ['reject', 'rcpt', 'dnsbl', 'dnsbl.listed'] : ['permit', 'rcpt', 'local-domains', 'rcpt.local_domain']],
      },
    ],
  } as JournalRecord;
}

test('workers give exactly the one-thread summary; an empty journal starts no worker', async (t) => {
  const dir = await makeTestConfig(DEFAULT_LISTENERS, {
    'local-domains': 'example.test\n',
    'relay-networks': '198.51.0.0/16\n',
    denylist: '203.0.113.0/24\n',
    'dnsbl.toml': 'threshold = 1\n\n[[zones]]\nzone = "bl.test"\nweight = 0.5\n\n[[zones]]\nzone = "new.test"\nweight = 1\n',
  });
  t.after(() => dir.cleanup());
  const load = await loadPolicy(dir.configFile);
  assert.ok(load.ok);
  const candidate = createSnapshot(load, 2, new Date());
  const journalDir = path.join(candidate.config.dataDir, 'journal');
  const empty = await replayJournal({ journalDir, candidate, jobs: 2 });
  assert.equal(empty.workers, 0);
  assert.equal(empty.summary.sessions, 0);

  await mkdir(journalDir, { recursive: true });
  const t0 = 1_700_000_000_000;
  for (let s = 0; s < 5; s++) {
    const lines: string[] = [];
    for (let n = s * 300; n < (s + 1) * 300; n++) lines.push(frameRecord(record(n, t0 + n)));
    await writeFile(path.join(journalDir, segmentName(t0 + s * 300)), lines.join(''));
  }
  await appendFile(path.join(journalDir, segmentName(t0 + 600)), '00000000 {"torn\n');

  const one = await replayJournal({ journalDir, candidate, jobs: 0 });
  assert.equal(one.workers, 0);
  assert.equal(one.summary.sessions, 1500);
  assert.ok(one.summary.relayOpenings.count > 0 && one.summary.groups.length >= 2, JSON.stringify(one.summary.groups.map((g) => g.reason)));
  assert.equal(one.read.corruptRecords, 1);
  for (const jobs of [1, 2, 3]) {
    const run = await replayJournal({ journalDir, candidate, jobs });
    assert.equal(run.workers, jobs);
    assert.deepEqual(run.summary, one.summary, `${jobs} worker(s)`);
    assert.deepEqual(run.read, one.read, `${jobs} worker(s)`);
  }
  // A range: the same selection either way.
  const range = { from: t0 + 450, to: t0 + 1_100 };
  const ranged = await replayJournal({ journalDir, candidate, range, jobs: 2 });
  assert.equal(ranged.summary.sessions, 651);
  assert.deepEqual(ranged.summary, (await replayJournal({ journalDir, candidate, range, jobs: 0 })).summary);
});

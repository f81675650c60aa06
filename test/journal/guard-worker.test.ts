// The reload guard replays on a worker thread: while it replays a big
// journal window the relay keeps answering SMTP (the replay never holds its
// event loop), and the result is the one a replay in the relay's thread gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SmtpTalk } from '../helpers/smtp-talk.ts';
import { HARNESS_LISTENERS, startHarness } from '../helpers/relay-harness.ts';
import { frameRecord, segmentName } from '../../src/journal/journal-segment.ts';
import type { JournalRecord } from '../../src/journal/journal-record.ts';
import type { ReloadResult } from '../../src/config/policy-store.ts';

const SESSIONS = 5_000;

/** A stranger refused relaying (as the front door journals it), one per client address. */
function stranger(n: number, t: number): JournalRecord {
  return {
    v: 1,
    id: `guard${n}`,
    t,
    ms: 40,
    l: 'mx',
    r: 'mx',
    ip: `198.51.${(n >> 8) & 255}.${n & 255}`,
    g: 1,
    s: [
      { c: 'connect', f: { cn: { c: { global: 1, ip: 1 } } }, d: [['dunno', 'connect', 'connect', 'ok']] },
      { c: 'mail', i: `x${n}@stranger.test`, tls: false, h: 'client.test', e: true, f: {}, d: [['dunno', 'helo', 'helo', 'ok'], ['permit', 'mail', 'default', 'ok']] },
      { c: 'rcpt', i: `victim${n}@foreign.test`, f: {}, d: [['reject', 'rcpt', 'reject-relay', 'relay.denied']] },
    ],
  };
}

test('a guard replay of a big window runs off the relay thread: SMTP is answered meanwhile, the edit is refused', async (t) => {
  const harness = await startHarness({
    deliveryWorker: false,
    config: `${HARNESS_LISTENERS}\n[reload]\nguard = true\n`,
    policies: { 'local-domains': 'example.test\n', 'relay-networks': '127.0.0.1/32\n' },
  });
  t.after(() => harness.stop());
  const { relay } = harness;
  const journalDir = path.join(relay.config.dataDir, 'journal');
  const t0 = Date.now() - 3_600_000;
  const lines: string[] = [];
  for (let n = 0; n < SESSIONS; n++) lines.push(frameRecord(stranger(n, t0 + n)));
  await mkdir(journalDir, { recursive: true });
  await writeFile(path.join(journalDir, segmentName(t0)), lines.join(''));

  const generation = relay.store.current().generation;
  await harness.dir.writePolicy('relay-networks', '0.0.0.0/0\n');
  let done: ReloadResult | undefined;
  const reload = relay.store.reload('test: widen relay-networks under a big journal').then((result) => {
    done = result;
    return result;
  });
  // Whole SMTP exchanges while the replay runs; each answered in time, and at least one before it ends.
  let answeredDuring = 0;
  let slowest = 0;
  for (let i = 0; i < 10_000 && done === undefined; i++) {
    const started = performance.now();
    const talk = await SmtpTalk.connect({ port: harness.port('mx') });
    try {
      assert.equal((await talk.read())?.code, 220);
      assert.equal((await talk.command('EHLO client.test')).code, 250);
      assert.equal((await talk.command('QUIT')).code, 221);
    } finally {
      talk.close();
    }
    slowest = Math.max(slowest, performance.now() - started);
    if (done === undefined) answeredDuring++;
  }
  const result = await reload;
  t.diagnostic(`${answeredDuring} SMTP exchange(s) answered during a guard replay of ${result.guard?.sessions} session(s) (${result.guard?.durationMs} ms); slowest ${Math.round(slowest)} ms`);
  assert.ok(answeredDuring >= 1, 'the relay answered SMTP while the guard replayed');
  assert.equal(result.guard?.workers, 1, 'the replay ran on a worker thread');
  assert.equal(result.ok, false);
  assert.equal(result.guard?.refused, true);
  // The EHLO sessions above are journaled too (flushed before the replay): they never reach RCPT.
  assert.ok((result.guard?.sessions ?? 0) >= SESSIONS, `${result.guard?.sessions} sessions replayed`);
  assert.equal(result.guard?.openings, SESSIONS);
  assert.equal(relay.store.current().generation, generation, 'the old policy keeps running');
});

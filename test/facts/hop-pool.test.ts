// The probe connections to one next hop (facts/recipient-probe/hop-pool.ts)
// against a real smtp-server upstream: bounded concurrency, reuse, QUIT when
// idle, a fresh connection when the upstream closed the idle one, a down hop
// answered at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HopPool, type NextHop } from '../../src/facts/recipient-probe/hop-pool.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { waitFor } from '../helpers/wait-for.ts';

const settings = { heloName: 'relay.test', connections: 2, idleTimeout: 300, commandTimeout: 3000 };
const hopTo = (port: number): NextHop => ({ key: `127.0.0.1:${port}`, label: `smarthost 127.0.0.1:${port}`, hosts: [{ host: '127.0.0.1', port }], tls: 'opportunistic' });

test('at most `connections` at once, reused, QUIT when idle; 5xx refused, 4xx temporary', async (t) => {
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  sink.rcptReply('nobody@example.test', '550 5.1.1 no such user');
  sink.rcptReply('busy@example.test', '451 4.3.0 later');
  const pool = new HopPool(hopTo(sink.port), settings);
  t.after(() => pool.close());
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.probe(`user${i}@example.test`)));
  assert.ok(answers.every((a) => a.kind === 'accepted'), JSON.stringify(answers[0]));
  assert.equal(pool.opened, 2);
  assert.equal(sink.connections, 2);
  assert.equal((await pool.probe('nobody@example.test')).kind, 'refused');
  assert.equal((await pool.probe('busy@example.test')).kind, 'temporary');
  assert.equal(pool.opened, 2, 'the same connections, RSET between probes');
  assert.equal(sink.messages.length, 0, 'never DATA');
  await waitFor(() => pool.idle === 0, 5000, 'idle connections closed with QUIT');
});

test('an idle connection the upstream closed is replaced; a hop that cannot be reached is answered at once for a while', async (t) => {
  const sink = await startSmtpSink({ starttls: false });
  t.after(() => sink.close());
  const pool = new HopPool(hopTo(sink.port), { ...settings, idleTimeout: 60_000 });
  t.after(() => pool.close());
  assert.equal((await pool.probe('a@example.test')).kind, 'accepted');
  assert.equal(pool.idle, 1);
  await sink.down();
  await sink.up();
  assert.equal((await pool.probe('b@example.test')).kind, 'accepted');
  assert.equal(pool.opened, 2);

  await sink.down();
  const first = await pool.probe('c@example.test');
  assert.equal(first.kind, 'temporary');
  const opened = pool.opened;
  const second = await pool.probe('d@example.test');
  assert.equal(second.kind, 'temporary');
  assert.match(second.reply, /^next hop unreachable/);
  assert.equal(pool.opened, opened, 'no new connection attempt while the hop counts as down');
});

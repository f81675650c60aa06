// The banner comes when the policy has decided and greet_delay (if any) has
// passed, with no fixed pause of smtp-server's in front of it. Checked with
// setTimeout mocked: a greeting that waited on any timer would never come.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startDoor } from '../helpers/front-door-harness.ts';

/** Turns of the event loop (setImmediate, which is not mocked) until `done`, at most `max`. */
/** A raw connection that records what the server sends. */
function listen(port: number): { socket: net.Socket; received: () => string } {
  let text = '';
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => void (text += chunk));
  socket.on('error', () => undefined);
  return { socket, received: () => text };
}

async function spinUntil(done: () => boolean, max: number): Promise<boolean> {
  for (let i = 0; i < max && !done(); i++) await new Promise((resolve) => setImmediate(resolve));
  return done();
}

test('with greet_delay = 0 the greeting waits on no timer (smtp-server\'s 100 ms early-talker pause is gone)', async (t) => {
  const relay = await startDoor();
  t.after(() => relay.stop());
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { socket, received } = listen(relay.port('mx'));
  try {
    const greeted = await spinUntil(() => received().includes('\r\n'), 200_000);
    assert.ok(greeted, `no greeting without a timer firing (got ${JSON.stringify(received())})`);
    assert.match(received(), /^220 /);
  } finally {
    socket.destroy();
    t.mock.timers.reset();
  }
});

test('with greet_delay set, the greeting waits for it (the timer is ours)', async (t) => {
  const relay = await startDoor('[smtp]\ngreet_delay = "2s"\n');
  t.after(() => relay.stop());
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { socket, received } = listen(relay.port('mx'));
  try {
    // Let the connection be accepted and the policy decide; no greeting yet.
    await spinUntil(() => relay.events.some((e) => e.decision.stage === 'connect'), 200_000);
    await spinUntil(() => false, 2_000);
    assert.equal(received(), '', 'no greeting before greet_delay');
    t.mock.timers.tick(2000);
    assert.ok(await spinUntil(() => received().includes('\r\n'), 200_000), 'greeting after greet_delay');
    assert.match(received(), /^220 /);
  } finally {
    socket.destroy();
    t.mock.timers.reset();
  }
});

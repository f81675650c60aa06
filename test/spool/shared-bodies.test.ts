import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SharedBodies } from '../../src/spool/shared-bodies.ts';

test('shared bodies: the chunks joined byte for byte, small ones in shared memory that no later body overlaps', () => {
  const bodies = new SharedBodies();
  const made: Array<{ body: Buffer; text: string }> = [];
  for (let i = 0; i < 200; i++) {
    const text = `Received: ${i}\r\n${'x'.repeat(i * 7)}\r\n`;
    const chunks = [Buffer.from(text.slice(0, 12)), Buffer.from(text.slice(12))];
    const body = bodies.join(chunks, Buffer.byteLength(text));
    assert.ok(body.buffer instanceof SharedArrayBuffer);
    assert.equal(body.length, Buffer.byteLength(text));
    made.push({ body, text });
  }
  // Every earlier body is intact after the later ones were written (slabs are never reused).
  for (const { body, text } of made) assert.equal(body.toString(), text);
  const large = bodies.join([Buffer.alloc(20_000, 1), Buffer.alloc(20_000, 2)], 40_000);
  assert.ok(!(large.buffer instanceof SharedArrayBuffer));
  assert.equal(large.buffer.byteLength, 40_000, 'a large body owns exactly its bytes');
  assert.equal(large[19_999], 1);
  assert.equal(large[20_000], 2);
  const tight = Buffer.from(new Uint8Array(10).buffer);
  assert.equal(bodies.join([tight], 10), tight, 'a single chunk that owns its memory is not copied');
});

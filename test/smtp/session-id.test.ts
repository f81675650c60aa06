// Session ids come from a pool of random bytes: same shape as before (12
// base64url characters, 72 bits), and no repeats across pool refills.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextSessionId } from '../../src/smtp/relay-smtp-server.ts';

test('session ids are 12 base64url characters and do not repeat across pool refills', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 3000; i++) {
    const id = nextSessionId();
    assert.match(id, /^[A-Za-z0-9_-]{12}$/);
    assert.ok(!seen.has(id), `repeated id ${id} at ${i}`);
    seen.add(id);
  }
});

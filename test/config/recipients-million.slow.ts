// policies/recipients at scale: a generated 1,000,000-line file parses, and
// every address is found. The policy store has no reload budget of its own;
// this asserts a generous ceiling (a shared 2-core machine) and prints the
// load time, heap growth and lookup rate for the record.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { parseRecipientsFile } from '../../src/config/recipients-file.ts';

const LINES = 1_000_000;
const CEILING_MS = 20_000;

it(`${LINES} recipient lines load under ${CEILING_MS} ms`, (t) => {
  const parts: string[] = [];
  for (let i = 0; i < LINES; i++) parts.push(`user${i}@domain${i % 50}.example`);
  const text = `# generated\n${parts.join('\n')}\n@catchall.example\n`;
  parts.length = 0;
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  const result = parseRecipientsFile('recipients', text);
  const loadMs = performance.now() - started;
  const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 1e6;
  assert.ok(result.ok);
  assert.equal(result.value.size, LINES + 1);
  const lookupStart = performance.now();
  let found = 0;
  for (let i = 0; i < LINES; i += 1) if (result.value.lookup(`USER${i}`, `domain${i % 50}.example`) === 'listed') found += 1;
  const lookupMs = performance.now() - lookupStart;
  assert.equal(found, LINES);
  assert.equal(result.value.lookup('nobody', 'domain1.example'), 'unknown');
  t.diagnostic(`load ${Math.round(loadMs)} ms, heap +${Math.round(heapMb)} MB, ${Math.round(LINES / (lookupMs / 1000))} lookups/s`);
  assert.ok(loadMs < CEILING_MS, `loaded in ${Math.round(loadMs)} ms`);
});

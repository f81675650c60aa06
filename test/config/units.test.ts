import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, parseSize } from '../../src/config/units.ts';

test('durations as people write them', () => {
  const rows: Array<[string, number | null]> = [
    ['30s', 30_000], ['5m', 300_000], ['1h30m', 5_400_000], ['5d', 432_000_000], ['250ms', 250], ['0', 0],
    ['', null], ['5', null], ['5x', null], ['m5', null], ['-1s', null],
  ];
  for (const [text, ms] of rows) assert.equal(parseDuration(text), ms, text);
});

test('sizes in binary multiples', () => {
  const rows: Array<[string, number | null]> = [
    ['25MB', 25 * 1024 * 1024], ['512k', 512 * 1024], ['1000', 1000], ['1.5KiB', 1536], ['10 mb', 10 * 1024 * 1024],
    ['', null], ['MB', null], ['5 parsecs', null],
  ];
  for (const [text, bytes] of rows) assert.equal(parseSize(text), bytes, text);
});

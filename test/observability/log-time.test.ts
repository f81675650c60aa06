// The time of each log line, made once per second with the milliseconds from a table (src/log/logger.ts):
// character for character what pino's old per-line `new Date(now).toISOString()` gave.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isoTimeOncePerMs } from '../../src/log/logger.ts';

const reference = (now: number) => `,"time":"${new Date(now).toISOString()}"`;

test('a line time is the ISO time of its millisecond, across ms, second, day and year edges and backwards steps (seeded)', () => {
  let seed = 61_206;
  const next = (below: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % below;
  };
  const fixed = [0, 999, 1000, 1001, 59_999, 60_000, 86_399_999, 86_400_000, 951_782_399_999, 951_782_400_000, 1_798_761_599_999, 1_798_761_600_000, 253_402_300_799_999, 253_402_300_800_000, -1, -999, -1000, -1001, -86_400_001];
  const times: number[] = [...fixed];
  let now = 1_796_000_000_000;
  for (let i = 0; i < 50_000; i++) {
    // Mostly small steps (same ms, next ms, next second), sometimes a jump, sometimes backwards.
    const kind = next(10);
    if (kind < 3) now += 0;
    else if (kind < 7) now += next(3);
    else if (kind < 9) now += next(2000);
    else now += next(10_000_000_000) - 5_000_000_000;
    times.push(now);
  }
  let index = 0;
  const clock = () => times[index] as number;
  const time = isoTimeOncePerMs(clock);
  for (; index < times.length; index++) assert.equal(time(), reference(times[index] as number), String(times[index]));
});

test('the default clock is Date.now', () => {
  const before = Date.now();
  const text = isoTimeOncePerMs()();
  const after = Date.now();
  const at = Date.parse(text.slice(9, -1));
  assert.ok(at >= before && at <= after, text);
});

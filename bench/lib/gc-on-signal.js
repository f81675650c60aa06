// Bench only, preloaded into the relay child for the memory benchmark:
//   node --expose-gc --import ./bench/lib/gc-on-signal.js bin/relayguard.js serve ...
// On SIGUSR2: a full garbage collection, then process.memoryUsage() written to
// $RELAYGUARD_BENCH_MEMORY_FILE. Without it RSS would count whatever garbage the
// collector has not got round to yet, which swings by tens of MiB from one
// reading to the next. The relay's own code is untouched.
// youngGeneration: what V8's young generation (new space) holds in memory.
// It is sized by recent allocation, not by what is alive (after a full GC it
// is empty but keeps its size): a burst of 1,000 new connections grows it by
// ~7 MiB, which is no connection's own memory (BENCHMARKS.md, memory).
import { writeFileSync } from 'node:fs';
import v8 from 'node:v8';

process.on('SIGUSR2', () => {
  globalThis.gc?.();
  const file = process.env.RELAYGUARD_BENCH_MEMORY_FILE;
  const youngGeneration = v8
    .getHeapSpaceStatistics()
    .filter((space) => space.space_name === 'new_space' || space.space_name === 'new_large_object_space')
    .reduce((sum, space) => sum + space.physical_space_size, 0);
  if (file) writeFileSync(file, JSON.stringify({ ...process.memoryUsage(), youngGeneration, at: Date.now() }));
});

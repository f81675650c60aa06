// Bench only, preloaded into the relay child for the memory benchmark:
//   node --expose-gc --import ./bench/lib/gc-on-signal.js bin/relayguard.js serve ...
// On SIGUSR2: a full garbage collection, then process.memoryUsage() written to
// $RELAYGUARD_BENCH_MEMORY_FILE. Without it RSS would count whatever garbage the
// collector has not got round to yet, which swings by tens of MiB from one
// reading to the next. The relay's own code is untouched.
import { writeFileSync } from 'node:fs';

process.on('SIGUSR2', () => {
  globalThis.gc?.();
  const file = process.env.RELAYGUARD_BENCH_MEMORY_FILE;
  if (file) writeFileSync(file, JSON.stringify({ ...process.memoryUsage(), at: Date.now() }));
});

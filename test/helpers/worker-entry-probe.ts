// A process entry for test/build/production-build.slow.ts: starts
// worker-entry-echo.ts the way relay code starts a worker (workerEntryUrl),
// from the sources or from a build, and prints the worker's answer as JSON.
import { Worker } from 'node:worker_threads';
import { workerEntryUrl } from '../../src/delivery/worker-entry.ts';

const worker = new Worker(workerEntryUrl('../test/helpers/worker-entry-echo.ts'), { workerData: 'ping' });
const answer = await new Promise((resolve, reject) => {
  worker.once('message', resolve);
  worker.once('error', reject);
});
process.stdout.write(`${JSON.stringify(answer)}\n`);
await worker.terminate();

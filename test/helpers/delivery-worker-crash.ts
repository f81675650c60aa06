// A delivery worker that dies on its first job, for test/delivery/delivery-worker.test.ts.
import { parentPort } from 'node:worker_threads';

parentPort?.on('message', (message: { type: string }) => {
  if (message.type === 'job') process.exit(3);
});
parentPort?.postMessage({ type: 'ready' });

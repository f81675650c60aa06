// A delivery worker that dies on its first job, for test/delivery/delivery-worker.test.ts.
// It speaks the batched protocol of worker-protocol.ts: arrays of messages.
import { parentPort } from 'node:worker_threads';

parentPort?.on('message', (batch: Array<{ type: string }>) => {
  if (batch.some((message) => message.type === 'job')) process.exit(3);
});
parentPort?.postMessage([{ type: 'ready' }]);

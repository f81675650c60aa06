// A delivery worker whose event loop gets stuck on its first job (a loop that
// never yields), for test/delivery/delivery-worker.test.ts. Until then it
// answers pings as the real one does (the batched protocol of worker-protocol.ts).
import { parentPort } from 'node:worker_threads';

parentPort?.on('message', (batch: Array<{ type: string; seq?: number }>) => {
  const pongs = batch.filter((message) => message.type === 'ping').map((message) => ({ type: 'pong', seq: message.seq }));
  if (pongs.length > 0) parentPort?.postMessage(pongs);
  if (batch.some((message) => message.type === 'job')) {
    for (;;) {
      // stuck: nothing else runs on this thread any more
    }
  }
});
parentPort?.postMessage([{ type: 'ready' }]);

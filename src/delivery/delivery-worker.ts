// The delivery worker thread (see worker-deliverer.ts for the other side).
// It runs attempts with the same in-process deliverer the main thread would
// use; its log lines go to the main thread, which writes them with its own,
// so one process has one writer of stdout.
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger, setLogLevel } from '../log/logger.ts';
import type { DeliveryRequest } from './deliverer.ts';
import { createInProcessDeliverer } from './in-process-deliverer.ts';
import { batchedPoster, type Batch, type FromWorker, type ToWorker, type WorkerInit } from './worker-protocol.ts';

const port = parentPort;
if (!port) throw new Error('delivery-worker.ts runs only as a worker thread');
const init = workerData as WorkerInit;
const outbox = batchedPoster<FromWorker>((batch) => port.postMessage(batch));
const post = outbox.post;
const baseLogger = createLogger(init.logLevel, { write: (line: string) => post({ type: 'log', line }) });
// The main thread's bindings include what createLogger's base writes already
// (service): pino would write such a key twice, which strict JSON readers refuse.
const ownKeys = baseLogger.bindings();
const logger = baseLogger.child(Object.fromEntries(Object.entries(init.logBindings).filter(([key]) => !(key in ownKeys))));
let ownAddresses = init.ownAddresses;
const deliverer = createInProcessDeliverer({ config: init.config, logger, ownAddresses: () => ownAddresses, ...(init.reuse ? { reuse: init.reuse } : {}) });

function asRequest(request: DeliveryRequest): DeliveryRequest {
  // A Buffer arrives as a plain Uint8Array.
  const body = request.body;
  return body instanceof Uint8Array ? { ...request, body: Buffer.from(body.buffer, body.byteOffset, body.byteLength) } : request;
}

const handle = (message: ToWorker): void => {
  switch (message.type) {
    case 'job':
      deliverer.deliver(asRequest(message.request)).then(
        (report) => post({ type: 'report', seq: message.seq, report, idle: deliverer.idleConnections() }),
        (error: unknown) => post({ type: 'failed', seq: message.seq, message: (error as Error).message ?? String(error) }),
      );
      break;
    case 'config':
      ownAddresses = message.ownAddresses;
      deliverer.updateConfig(message.config);
      if (message.logLevel !== undefined && message.logLevel !== baseLogger.level) setLogLevel(baseLogger, message.logLevel);
      break;
    case 'cut':
      deliverer.cutActive();
      break;
    case 'ping':
      // Answered from the event loop: a loop stuck in a computation cannot answer.
      post({ type: 'pong', seq: message.seq });
      break;
    case 'close':
      void deliverer.close().finally(() => {
        logger.flush();
        outbox.now();
        port.close();
      });
      break;
  }
};
port.on('message', (batch: Batch<ToWorker>) => {
  for (const message of batch) handle(message);
});
post({ type: 'ready' });

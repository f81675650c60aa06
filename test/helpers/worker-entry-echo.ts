// A worker_threads entry for test/build/production-build.slow.ts: answers its
// workerData with the URL it was loaded from (a .ts file from the sources, a
// .js file from a build).
import { parentPort, workerData } from 'node:worker_threads';

parentPort?.postMessage({ echo: workerData as unknown, url: import.meta.url });

// Delivery attempts in a worker thread (delivery-worker.ts), so outbound
// SMTP (nodemailer sessions, MX lookups, TLS) runs on another core than the
// front door. The queue runner, the spool and every decision stay in the main
// thread: the worker gets one attempt at a time as plain data (the body
// copied when it is in memory, else its place in the spool file) and answers
// with the per-recipient results.
// The worker starts with the deliverer. If it dies, the attempts in flight
// reject (the runner records them as deferred, so they are retried: at worst
// a message goes out twice, none is lost) and the next attempt starts a new
// worker.
import type { Worker } from 'node:worker_threads';
import { destinationOf, type Logger } from '../log/logger.ts';
import { Worker as WorkerThread } from 'node:worker_threads';
import { workerEntryUrl } from './worker-entry.ts';
import type { JobReport } from './deliver-job.ts';
import type { Deliverer, DelivererConfig, DeliveryRequest, ReuseOptions } from './deliverer.ts';
import type { OwnAddresses } from './loop-guard.ts';
import { batchedPoster, type Batch, type FromWorker, type ToWorker, type WorkerInit } from './worker-protocol.ts';

export interface WorkerDelivererOptions {
  readonly config: DelivererConfig;
  readonly logger: Logger;
  readonly ownAddresses?: OwnAddresses;
  readonly reuse?: ReuseOptions;
  /** The worker's module (tests start others); default delivery-worker.ts. */
  readonly workerUrl?: URL;
  /** How often the worker is pinged, and how long it may go without answering before it is replaced. */
  readonly watchdog?: { readonly intervalMs: number; readonly timeoutMs: number };
}

interface Pending {
  resolve(report: JobReport): void;
  reject(error: Error): void;
}

const CLOSE_WAIT_MS = 2_000;
/**
 * A worker whose event loop has not answered a ping for WATCHDOG.timeoutMs is
 * stuck (a loop that never yields; a crash would have ended it): it is
 * terminated, its attempts in flight are deferred like a crash's, and the next
 * attempt starts a new one. Its I/O is all asynchronous, so a healthy worker
 * answers within milliseconds even while delivering.
 */
const WATCHDOG = { intervalMs: 5_000, timeoutMs: 30_000 };
/** A worker that dies this soon after starting is not restarted at once. */
const RESTART_BACKOFF_MS = 1_000;

/**
 * postMessage copies a Buffer's whole ArrayBuffer, not just its bytes, and a
 * small Buffer is a slice of Node's shared 8 KiB pool: a 1 KiB body cost an
 * 8 KiB copy (and carried its neighbours' bytes along). A body that does not
 * own its memory is copied into exactly its size first. A body in shared
 * memory (the spool's intake builds small ones there, shared-bodies.ts)
 * crosses by reference, without a copy.
 */
function withOwnBody(request: DeliveryRequest): DeliveryRequest {
  const { body } = request;
  if (!Buffer.isBuffer(body) || body.buffer instanceof SharedArrayBuffer || (body.byteOffset === 0 && body.buffer.byteLength === body.length)) return request;
  const own = new Uint8Array(body); // a new ArrayBuffer of exactly body.length
  return { ...request, body: Buffer.from(own.buffer, 0, own.length) };
}

export function createWorkerDeliverer(options: WorkerDelivererOptions): Deliverer {
  const { logger } = options;
  // The worker's lines are written verbatim to our destination: one writer of stdout.
  const stream = destinationOf(logger);
  if (!stream) logger.warn('the delivery worker logs nowhere: its logger was not made by createLogger');
  const ownAddresses = options.ownAddresses ?? (() => []);
  let config = options.config;
  let worker: Worker | undefined;
  let startedAt = 0;
  let notBefore = 0;
  let seq = 0;
  let idle = 0;
  let closed = false;
  const pending = new Map<number, Pending>();
  const watchdog = options.watchdog ?? WATCHDOG;
  let pings = 0;
  /** When the oldest unanswered ping was sent (undefined: none outstanding). */
  let unansweredSince: number | undefined;

  function start(): Worker {
    const init: WorkerInit = {
      config,
      ownAddresses: ownAddresses(),
      ...(options.reuse ? { reuse: options.reuse } : {}),
      logLevel: logger.level,
      logBindings: logger.bindings(),
    };
    const w = new WorkerThread(options.workerUrl ?? workerEntryUrl('delivery/delivery-worker.ts'), { workerData: init, name: 'relayguard-delivery' });
    startedAt = Date.now();
    w.on('message', (batch: Batch<FromWorker>) => {
      for (const message of batch) received(message);
    });
    w.on('error', (error) => logger.error({ err: error }, 'the delivery worker crashed'));
    w.on('exit', (code) => {
      if (worker === w) {
        worker = undefined;
        unansweredSince = undefined;
      }
      idle = 0;
      if (!closed) {
        logger.error({ code, inFlight: pending.size }, 'the delivery worker exited; attempts in flight will be retried');
        if (Date.now() - startedAt < RESTART_BACKOFF_MS) notBefore = Date.now() + RESTART_BACKOFF_MS;
      }
      for (const p of pending.values()) p.reject(new Error('the delivery worker exited during the attempt'));
      pending.clear();
    });
    outbox = batchedPoster<ToWorker>((batch) => w.postMessage(batch));
    return w;
  }

  function received(message: FromWorker): void {
    switch (message.type) {
      case 'report': {
        idle = message.idle;
        const p = pending.get(message.seq);
        pending.delete(message.seq);
        p?.resolve(message.report);
        break;
      }
      case 'failed': {
        const p = pending.get(message.seq);
        pending.delete(message.seq);
        p?.reject(new Error(message.message));
        break;
      }
      case 'log':
        stream?.write(message.line);
        break;
      case 'pong':
        if (message.seq === pings) unansweredSince = undefined;
        break;
      case 'ready':
        break;
    }
  }

  const watch = setInterval(() => {
    const live = worker;
    if (!live || closed) return;
    if (unansweredSince === undefined) {
      unansweredSince = Date.now();
      send({ type: 'ping', seq: ++pings });
      return;
    }
    const silentMs = Date.now() - unansweredSince;
    if (silentMs < watchdog.timeoutMs) return;
    logger.error({ silentMs, inFlight: pending.size }, 'the delivery worker stopped answering; replacing it');
    unansweredSince = undefined;
    void live.terminate();
  }, watchdog.intervalMs);
  watch.unref();

  // Jobs and the rest go out batched per turn of the event loop, to the worker
  // that is running (a new worker gets a new outbox).
  let outbox: ReturnType<typeof batchedPoster<ToWorker>> | undefined;
  const send = (message: ToWorker) => {
    if (worker) outbox?.post(message);
  };
  // Started now, not at the first attempt: loading the SMTP client takes a moment
  // (seconds from the sources through tsx) that the first message should not wait for.
  worker = start();

  return {
    deliver(request) {
      if (closed) return Promise.reject(new Error('delivery is shutting down'));
      if (!worker) {
        if (Date.now() < notBefore) return Promise.reject(new Error('the delivery worker is restarting'));
        worker = start();
      }
      const id = ++seq;
      return new Promise<JobReport>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        send({ type: 'job', seq: id, request: withOwnBody(request) });
      });
    },
    updateConfig(next) {
      config = next;
      // logger.level follows log_level on reload (setLogLevel in the policy store).
      send({ type: 'config', config: next, ownAddresses: ownAddresses(), logLevel: logger.level });
    },
    idleConnections: () => idle,
    cutActive() {
      send({ type: 'cut' });
    },
    async close() {
      closed = true;
      clearInterval(watch);
      const w = worker;
      if (!w) return;
      const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
      send({ type: 'close' });
      outbox?.now();
      const timer = setTimeout(() => void w.terminate(), CLOSE_WAIT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

// The queue runner (Postfix's qmgr + smtp in one loop). It keeps only a
// schedule in memory (a heap of id + due time over the spool's index) and
// loads at most `maxLoaded` messages from disk at a time, so a spool of
// 100,000 messages is streamed, not held. A loaded message is split into one
// job per destination; jobs start round-robin across destinations within the
// global concurrency (delivery.concurrency) and each destination's limits.
// When all jobs of a message are back, message-outcome.ts decides: bounce the
// failed recipients, warn about delays, then remove the message or record the
// journal event and schedule the next attempt. Newly accepted messages are
// pushed in by the spool's accept listener and start at once.
import type { LoadedMessage } from '../spool/spool.ts';
import { openRecipients } from '../spool/state-journal.ts';
import { createBouncer, type Bouncer } from './bounces.ts';
import { delivererConfig, type Deliverer } from './deliverer.ts';
import { createInProcessDeliverer, logAttempt } from './in-process-deliverer.ts';
import { DestinationLimiter } from './destination-limiter.ts';
import { planOutcome } from './message-outcome.ts';
import { MinHeap } from './min-heap.ts';
import { groupByDestination, type Destination } from './routing.ts';
import type { RecipientResult } from './smtp-reply.ts';
import { handleControl } from './queue-control.ts';
import type { DeliveryEvent, QueueRunner, QueueRunnerOptions } from './runner-types.ts';
import { watchControl } from '../spool/control.ts';

export type { DeliveryEvent, QueueRunner, QueueRunnerOptions, RunnerStats } from './runner-types.ts';

interface Run {
  readonly id: string;
  readonly msg: LoadedMessage;
  pendingJobs: number;
  activeJobs: number;
  readonly results: RecipientResult[];
  readonly done: Promise<void>;
  finish(): void;
}

interface Job {
  readonly run: Run;
  readonly destination: Destination;
  readonly recipients: string[];
}

const MAX_TIMER_MS = 60_000;

export function startQueueRunner(options: QueueRunnerOptions): QueueRunner {
  const { spool } = options;
  const now = options.now ?? Date.now;
  const logger = options.logger.child({ component: 'delivery' });
  let config = options.config;
  const maxLoaded = options.maxLoaded ?? Math.max(256, config.delivery.concurrency * 10);
  const deliverer: Deliverer =
    options.deliverer ??
    createInProcessDeliverer({
      config: delivererConfig(config),
      logger,
      now,
      ...(options.resolver ? { resolver: options.resolver } : {}),
      ...(options.ownAddresses ? { ownAddresses: options.ownAddresses } : {}),
      ...(options.random ? { random: options.random } : {}),
      ...(options.reuse ? { reuse: options.reuse } : {}),
    });
  const limiter = new DestinationLimiter(config.delivery.per_destination_concurrency, config.delivery.per_destination_rate);
  const bouncer: Bouncer = createBouncer({ spool, hostname: () => config.hostname, now, logger });
  const heap = new MinHeap();
  const runs = new Map<string, Run>();
  const queues = new Map<string, Job[]>();
  /** Per destination: ids waiting for room in that destination's queue (ids only, in order). */
  const parked = new Map<string, Set<string>>();
  const queueCap = () => Math.max(1, Math.min(Math.max(4 * config.delivery.per_destination_concurrency, 32), Math.floor(maxLoaded / 4)));
  const listeners = new Set<(event: DeliveryEvent) => void>();
  const counters = { delivered: 0, deferred: 0, failed: 0, bounces: 0 };
  let loaded = 0;
  let active = 0;
  let completing = 0;
  /** Loads from disk in flight. */
  let loading = 0;
  /** Made due by `queue retry`: the journal's next attempt time is ignored once. */
  const forced = new Set<string>();
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Infinity;
  let pumpQueued = false;
  const idle: Array<() => void> = [];

  for (const [id, due] of spool.entries()) heap.push({ due, id });
  const unsubscribe = spool.onAccepted((id, due) => {
    heap.push({ due, id });
    schedulePump();
  });

  schedulePump();

  const emit = (event: DeliveryEvent) => {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch {
        // A subscriber's bug must not stop delivery.
      }
    }
  };

  function schedulePump(): void {
    if (pumpQueued || stopping) return;
    pumpQueued = true;
    // Coalesces a burst of accepts into one pass over the heap.
    setImmediate(() => {
      pumpQueued = false;
      pump();
    });
  }

  function armTimer(at: number): void {
    if (stopping || at >= timerAt) return;
    if (timer) clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(() => {
      timer = undefined;
      timerAt = Infinity;
      pump();
    }, Math.min(Math.max(at - now(), 0), MAX_TIMER_MS));
    timer.unref();
  }

  function pump(): void {
    if (stopping) return;
    unpark();
    const t = now();
    // With a single destination (a smarthost, no routes) every message goes to the same
    // queue: stop reading from disk while that queue is full instead of reading and parking.
    const single = config.delivery.mode === 'smarthost' && config.delivery.routes.length === 0 ? 'smarthost' : undefined;
    while (loaded < maxLoaded) {
      if (single !== undefined && (queues.get(single)?.length ?? 0) + loading >= queueCap()) break;
      const top = heap.peek();
      if (!top || top.due > t) break;
      heap.pop();
      if (spool.dueOf(top.id) !== top.due || runs.has(top.id)) continue;
      loaded++;
      void load(top.id);
    }
    const top = heap.peek();
    if (top && loaded < maxLoaded) armTimer(top.due);
    dispatch();
  }

  async function load(id: string): Promise<void> {
    let msg: LoadedMessage | undefined;
    loading++;
    try {
      msg = await spool.load(id);
    } catch (error) {
      logger.error({ err: error, queueId: id }, 'cannot load message; retrying later');
      const due = now() + 60_000;
      spool.setDue(id, due);
      heap.push({ due, id });
    } finally {
      loading--;
    }
    const open = msg ? openRecipients(msg.state) : [];
    const early = msg !== undefined && msg.state.nextAttemptAt > now() + 1_000 && !forced.has(id);
    if (!msg || stopping || open.length === 0 || early) {
      loaded--;
      if (msg && open.length === 0 && !stopping) await spool.remove(id).catch(() => undefined);
      else if (msg && !stopping) {
        // The index was early (e.g. a journal's mtime touched by hand): trust the journal.
        spool.setDue(id, msg.state.nextAttemptAt);
        heap.push({ due: msg.state.nextAttemptAt, id });
      }
      idleCheck();
      schedulePump();
      return;
    }
    const groups = groupByDestination(open, config.delivery);
    const only = groups.length === 1 ? (groups[0] as (typeof groups)[number]).destination.key : undefined;
    if (runs.has(id) || (only !== undefined && (queues.get(only)?.length ?? 0) >= queueCap())) {
      // Its destination already has a full queue (slow, rate-limited or down): park the id
      // there instead of holding the message, so other destinations are not starved and
      // memory stays bounded. It is loaded again when that queue has room.
      loaded--;
      if (!runs.has(id) && only !== undefined) {
        const set = parked.get(only) ?? new Set<string>();
        set.add(id);
        parked.set(only, set);
      }
      schedulePump();
      return;
    }
    forced.delete(id);
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const run: Run = { id, msg, pendingJobs: groups.length, activeJobs: 0, results: [], done, finish };
    runs.set(id, run);
    for (const group of groups) {
      const queue = queues.get(group.destination.key) ?? [];
      queue.push({ run, destination: group.destination, recipients: group.recipients });
      queues.set(group.destination.key, queue);
    }
    dispatch();
  }

  /** Loads parked messages of destinations whose queue has room again. */
  function unpark(): void {
    for (const [key, ids] of parked) {
      let room = queueCap() - (queues.get(key)?.length ?? 0);
      for (const id of ids) {
        if (room <= 0 || loaded >= maxLoaded) break;
        ids.delete(id);
        if (runs.has(id) || !spool.has(id)) continue;
        room--;
        loaded++;
        void load(id);
      }
      if (ids.size === 0) parked.delete(key);
      if (loaded >= maxLoaded) return;
    }
  }

  function dispatch(): void {
    if (stopping) return;
    let rateWake = Infinity;
    while (active < config.delivery.concurrency) {
      let started = false;
      const t = now();
      for (const [key, queue] of queues) {
        const check = limiter.check(key, t);
        if (!check.ok) {
          if (check.retryAt !== undefined) rateWake = Math.min(rateWake, check.retryAt);
          continue;
        }
        const job = queue.shift() as Job;
        // Move the destination to the back: round-robin between destinations.
        queues.delete(key);
        if (queue.length > 0) queues.set(key, queue);
        start(job, key, t);
        started = true;
        break;
      }
      if (!started) break;
    }
    if (rateWake < Infinity) armTimer(rateWake);
  }

  function start(job: Job, key: string, t: number): void {
    active++;
    job.run.activeJobs++;
    limiter.started(key, t);
    const msg = job.run.msg;
    const began = now();
    void deliverer
      .deliver({
        queueId: msg.id,
        sender: msg.envelope.sender,
        recipients: job.recipients,
        destination: job.destination,
        size: msg.size,
        body: msg.body ?? { file: msg.file, start: msg.bodyOffset, end: msg.bodyOffset + msg.size - 1 },
      })
      .catch((error: unknown) => {
        logger.error({ err: error, queueId: msg.id }, 'delivery attempt crashed');
        const report = { results: job.recipients.map((r) => ({ recipient: r, status: 'deferred' as const, reply: 'internal error during delivery', enhanced: '4.3.0' })), tried: [] as string[] };
        // The deliverer logs each attempt it made; this one it could not.
        logAttempt(logger, { queueId: msg.id, destination: job.destination }, report, now() - began);
        return report;
      })
      .then((report) => {
        const durationMs = now() - began;
        for (const r of report.results) counters[r.status]++;
        emit({ type: 'attempt', at: now(), queueId: msg.id, destination: job.destination.key, tried: report.tried, results: report.results, durationMs });
        job.run.results.push(...report.results);
        active--;
        job.run.activeJobs--;
        limiter.finished(key);
        if (--job.run.pendingJobs === 0) void complete(job.run);
        dispatch();
        idleCheck();
      });
  }

  async function complete(run: Run): Promise<void> {
    completing++;
    const { msg } = run;
    const d = config.delivery;
    const plan = planOutcome({
      envelope: msg.envelope,
      state: msg.state,
      results: run.results,
      now: now(),
      schedule: d.retry_schedule,
      lifetime: d.queue_lifetime,
      delayWarning: d.delay_warning,
    });
    try {
      if (plan.failed.length > 0 && msg.envelope.sender !== '') {
        const bounceId = await bouncer.failed(msg, plan.failed);
        counters.bounces++;
        emit({ type: 'bounce', queueId: msg.id, bounceId, kind: 'failed', recipients: plan.failed.map((r) => r.recipient) });
      } else if (plan.failed.length > 0) {
        logger.warn({ queueId: msg.id, recipients: plan.failed.map((r) => r.recipient) }, 'failed recipients of a null-sender message: no bounce');
      }
      if (plan.warn.length > 0) {
        const bounceId = await bouncer.delayed(msg, plan.warn, msg.envelope.receivedAt + d.queue_lifetime);
        emit({ type: 'bounce', queueId: msg.id, bounceId, kind: 'delayed', recipients: plan.warn.map((r) => r.recipient) });
      }
      if (plan.done) {
        await spool.remove(msg.id);
        emit({ type: 'removed', queueId: msg.id, reason: plan.failed.length > 0 ? 'failed' : 'delivered' });
      } else {
        await spool.record(msg.id, plan.event);
        heap.push({ due: plan.nextAttemptAt as number, id: msg.id });
      }
    } catch (error) {
      // Nothing was lost: the message and its old journal are still on disk. Try again later.
      logger.error({ err: error, queueId: msg.id }, 'cannot record delivery outcome; retrying later');
      const due = now() + 60_000;
      spool.setDue(msg.id, due);
      heap.push({ due, id: msg.id });
    }
    runs.delete(msg.id);
    loaded--;
    completing--;
    run.finish();
    schedulePump();
    idleCheck();
  }

  function idleCheck(): void {
    if (active === 0 && completing === 0) for (const resolve of idle.splice(0)) resolve();
  }

  async function waitFor(id: string): Promise<void> {
    const run = runs.get(id);
    if (run) await run.done;
  }

  const api: QueueRunner = {
    kick: () => schedulePump(),
    stats: () => {
      const s = spool.stats();
      let waiting = 0;
      for (const ids of parked.values()) waiting += ids.size;
      return { queued: s.size, oldestReceivedAt: s.oldestReceivedAt, loaded, active, parked: waiting, ...counters, idleConnections: deliverer.idleConnections() };
    },
    updateConfig(next) {
      config = next;
      limiter.configure(next.delivery.per_destination_concurrency, next.delivery.per_destination_rate);
      deliverer.updateConfig(delivererConfig(next));
      schedulePump();
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async retry(id) {
      const ids = id === undefined ? [...spool.entries()].map(([i]) => i) : spool.has(id) ? [id] : [];
      const t = now();
      for (const one of ids) {
        if (runs.has(one)) continue;
        // Memory only: after a restart every message is looked at anyway.
        forced.add(one);
        spool.setDue(one, t);
        heap.push({ due: t, id: one });
      }
      schedulePump();
      return ids.length;
    },
    async remove(id) {
      await waitFor(id);
      if (!spool.has(id)) return false;
      await spool.remove(id);
      emit({ type: 'removed', queueId: id, reason: 'deleted' });
      return true;
    },
    async bounce(id, reason = 'removed from the queue by the administrator') {
      await waitFor(id);
      const msg = await spool.load(id);
      if (!msg) return false;
      const failed = openRecipients(msg.state).map((r) => ({ recipient: r, status: 'failed' as const, reply: reason, enhanced: '5.0.0' }));
      if (failed.length > 0 && msg.envelope.sender !== '') {
        const bounceId = await bouncer.failed(msg, failed);
        counters.bounces++;
        emit({ type: 'bounce', queueId: id, bounceId, kind: 'failed', recipients: failed.map((r) => r.recipient) });
      }
      await spool.remove(id);
      emit({ type: 'removed', queueId: id, reason: 'bounced' });
      return true;
    },
    async stop(graceMs = 30_000) {
      if (stopping) return;
      stopping = true;
      unsubscribe();
      if (timer) clearTimeout(timer);
      // Jobs not started yet stay in the spool untouched; attempts in flight are awaited, and
      // a message whose other jobs already ran records those results (no duplicate later).
      queues.clear();
      for (const run of [...runs.values()]) {
        run.pendingJobs = run.activeJobs;
        if (run.activeJobs > 0) continue;
        if (run.results.length > 0) void complete(run);
        else {
          runs.delete(run.id);
          loaded--;
          run.finish();
        }
      }
      const drained = new Promise<void>((resolve) => {
        if (active === 0 && completing === 0) resolve();
        else idle.push(resolve);
      });
      let graceTimer: NodeJS.Timeout | undefined;
      const expired = new Promise<'expired'>((resolve) => {
        graceTimer = setTimeout(() => resolve('expired'), graceMs);
      });
      const outcome = await Promise.race([drained.then(() => 'drained' as const), expired]);
      if (graceTimer) clearTimeout(graceTimer);
      if (outcome === 'expired') {
        logger.warn({ active }, 'delivery attempts still running at shutdown; cutting them');
        deliverer.cutActive();
      }
      await deliverer.close();
    },
  };
  const control = options.control === false ? undefined : watchControl(spool.dir, (request) => handleControl(api, request), logger);
  const stop = api.stop;
  api.stop = async (graceMs) => {
    control?.close();
    await stop(graceMs);
  };
  return api;
}

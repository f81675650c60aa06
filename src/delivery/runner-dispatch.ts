// Dispatching: starts jobs from the per-destination queues within the global
// concurrency (delivery.concurrency) and each destination's limits
// (destination-limiter.ts), round-robin across destinations, hands each to
// the deliverer, and counts and reports what comes back. When the last job
// of a message is back, the outcome is applied (runner-outcome.ts).
import type { JobReport } from './deliver-job.ts';
import type { Deliverer, DeliveryRequest } from './deliverer.ts';
import type { Envelope, EsmtpParameters, RecipientDsn } from '../spool/types.ts';
import type { DestinationLimiter } from './destination-limiter.ts';
import { logAttempt } from './in-process-deliverer.ts';
import type { Outcomes } from './runner-outcome.ts';
import type { Job, RunnerContext } from './runner-state.ts';

/** PURE. The report of an attempt that crashed inside the deliverer: every recipient deferred. */
export function crashReport(recipients: readonly string[]): JobReport {
  return { results: recipients.map((r) => ({ recipient: r, status: 'deferred' as const, reply: 'internal error during delivery', enhanced: '4.3.0' })), tried: [] as string[] };
}

/** PURE. The envelope's ESMTP and per-recipient DSN parameters for the recipients of one job (absent when there are none). */
export function jobParameters(envelope: Envelope, recipients: readonly string[]): Pick<DeliveryRequest, 'esmtp' | 'dsn'> {
  const out: { esmtp?: EsmtpParameters; dsn?: (RecipientDsn | null)[] } = {};
  if (envelope.esmtp) out.esmtp = envelope.esmtp;
  const all = envelope.recipientDsn;
  if (all) {
    const index = new Map(envelope.recipients.map((r, i) => [r, i]));
    out.dsn = recipients.map((r) => all[index.get(r) ?? -1] ?? null);
  }
  return out;
}

export interface DispatcherDeps extends RunnerContext {
  readonly limiter: DestinationLimiter;
  readonly deliverer: Deliverer;
  readonly outcomes: Outcomes;
}

export class Dispatcher {
  readonly #d: DispatcherDeps;

  constructor(deps: DispatcherDeps) {
    this.#d = deps;
  }

  /** Starts as many queued jobs as the limits allow; wakes the schedule when a rate limit lifts. */
  dispatch(): void {
    const { state, limiter } = this.#d;
    if (state.stopping) return;
    let rateWake = Infinity;
    while (state.active < state.config.delivery.concurrency) {
      let started = false;
      const t = this.#d.now();
      for (const [key, queue] of state.queues) {
        const check = limiter.check(key, t);
        if (!check.ok) {
          if (check.retryAt !== undefined) rateWake = Math.min(rateWake, check.retryAt);
          continue;
        }
        const job = queue.shift() as Job;
        // Move the destination to the back: round-robin between destinations.
        state.queues.delete(key);
        if (queue.length > 0) state.queues.set(key, queue);
        this.#start(job, key, t);
        started = true;
        break;
      }
      if (!started) break;
    }
    if (rateWake < Infinity) this.#d.schedule.wakeAt(rateWake);
  }

  #start(job: Job, key: string, t: number): void {
    const { state, limiter, logger, now } = this.#d;
    state.active++;
    job.run.activeJobs++;
    limiter.started(key, t);
    const msg = job.run.msg;
    const began = now();
    void this.#d.deliverer
      .deliver({
        queueId: msg.id,
        sender: msg.envelope.sender,
        recipients: job.recipients,
        destination: job.destination,
        size: msg.size,
        body: msg.body ?? { file: msg.file, start: msg.bodyOffset, end: msg.bodyOffset + msg.size - 1 },
        ...jobParameters(msg.envelope, job.recipients),
      })
      .catch((error: unknown) => {
        logger.error({ err: error, queueId: msg.id }, 'delivery attempt crashed');
        const report = crashReport(job.recipients);
        // The deliverer logs each attempt it made; this one it could not.
        logAttempt(logger, { queueId: msg.id, destination: job.destination }, report, now() - began);
        return report;
      })
      .then((report) => {
        const durationMs = now() - began;
        for (const r of report.results) state.counters[r.status]++;
        this.#d.events.publish({ type: 'attempt', at: now(), queueId: msg.id, destination: job.destination.key, tried: report.tried, results: report.results, durationMs });
        job.run.results.push(...report.results);
        state.active--;
        job.run.activeJobs--;
        limiter.finished(key);
        if (--job.run.pendingJobs === 0) void this.#d.outcomes.complete(job.run);
        this.dispatch();
        state.idleCheck();
      });
  }
}

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
// The parts, wired here:
//   runner-state.ts     the shared bookkeeping (runs, queues, parked ids, counts)
//   runner-schedule.ts  scheduling: the heap of due times, the timer, the coalesced pump
//   runner-picker.ts    picking: load what is due, split it per destination, park
//   runner-dispatch.ts  dispatching: start jobs within the limits, hand them to the deliverer
//   runner-outcome.ts   applying outcomes: bounces, the journal, removal, the next attempt
//   queue-commands.ts   queue control: retry, delete, bounce
//   runner-holds.ts     held messages: hold, release, expiry
//   runner-events.ts    the delivery events to subscribers
import { createBouncer } from './bounces.ts';
import { delivererConfig, type Deliverer } from './deliverer.ts';
import { DestinationLimiter } from './destination-limiter.ts';
import { createInProcessDeliverer } from './in-process-deliverer.ts';
import { QueueCommands } from './queue-commands.ts';
import { handleControl } from './queue-control.ts';
import { Dispatcher } from './runner-dispatch.ts';
import { RunnerEvents } from './runner-events.ts';
import { RunnerHolds } from './runner-holds.ts';
import { Outcomes } from './runner-outcome.ts';
import { Picker } from './runner-picker.ts';
import { Schedule } from './runner-schedule.ts';
import { RunnerState } from './runner-state.ts';
import type { QueueRunner, QueueRunnerOptions } from './runner-types.ts';
import { isAccountsRequest, watchControl, type ControlReply } from '../spool/control.ts';

const ACCOUNTS_OFF: ControlReply = { ok: false, message: 'account anomaly detection is off in the running relay ([accounts] enabled = false)' };

export type { DeliveryEvent, QueueRunner, QueueRunnerOptions, RunnerStats } from './runner-types.ts';

export function startQueueRunner(options: QueueRunnerOptions): QueueRunner {
  const { spool } = options;
  const now = options.now ?? Date.now;
  const logger = options.logger.child({ component: 'delivery' });
  const config = options.config;
  const state = new RunnerState(config, options.maxLoaded ?? Math.max(256, config.delivery.concurrency * 10));
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
  const bouncer = createBouncer({ spool, hostname: () => state.config.hostname, now, logger });
  const events = new RunnerEvents();
  const schedule = new Schedule(spool, now, () => picker.pump());
  const context = { state, schedule, spool, events, logger, now };
  const outcomes = new Outcomes({ ...context, bouncer, senderUnknown: options.senderUnknown });
  const dispatcher = new Dispatcher({ ...context, limiter, deliverer, outcomes });
  // Without a judge of our own senders, only authenticated users get a bounce when a hold expires.
  const ownSender = options.ownSender ?? ((envelope) => envelope.authUser !== undefined);
  const holds = new RunnerHolds({ ...context, outcomes, ownSender });
  const picker = new Picker({ ...context, dispatcher, holds });
  const commands = new QueueCommands({ ...context, outcomes });

  for (const [id, due] of spool.entries()) schedule.add(id, due);
  const unsubscribe = spool.onAccepted((id, due) => {
    schedule.add(id, due);
    schedule.requestPump();
  });

  schedule.requestPump();

  const api: QueueRunner = {
    kick: () => schedule.requestPump(),
    stats: () => {
      const s = spool.stats();
      const { loaded, active, counters } = state;
      return { queued: s.size, held: s.held, oldestReceivedAt: s.oldestReceivedAt, loaded, active, parked: state.parkedCount(), ...counters, idleConnections: deliverer.idleConnections() };
    },
    updateConfig(next) {
      state.config = next;
      limiter.configure(next.delivery.per_destination_concurrency, next.delivery.per_destination_rate);
      deliverer.updateConfig(delivererConfig(next));
      schedule.requestPump();
    },
    subscribe: (listener) => events.subscribe(listener),
    retry: (id) => commands.retry(id),
    remove: (id) => commands.remove(id),
    bounce: (id, reason) => commands.bounce(id, reason),
    hold: (selector, reason, by = 'admin') => holds.hold(selector, reason, by),
    release: (selector) => holds.release(selector),
    isHeld: (id) => spool.isHeld(id),
    exists: (id) => spool.has(id),
    async stop(graceMs = 30_000) {
      if (state.stopping) return;
      state.stopping = true;
      unsubscribe();
      schedule.stop();
      // Jobs not started yet stay in the spool untouched; attempts in flight are awaited, and
      // a message whose other jobs already ran records those results (no duplicate later).
      state.queues.clear();
      for (const run of [...state.runs.values()]) {
        run.pendingJobs = run.activeJobs;
        if (run.activeJobs > 0) continue;
        if (run.results.length > 0) void outcomes.complete(run);
        else {
          state.runs.delete(run.id);
          state.loaded--;
          run.finish();
        }
      }
      const drained = state.drained();
      let graceTimer: NodeJS.Timeout | undefined;
      const expired = new Promise<'expired'>((resolve) => {
        graceTimer = setTimeout(() => resolve('expired'), graceMs);
      });
      const outcome = await Promise.race([drained.then(() => 'drained' as const), expired]);
      if (graceTimer) clearTimeout(graceTimer);
      if (outcome === 'expired') {
        logger.warn({ active: state.active }, 'delivery attempts still running at shutdown; cutting them');
        deliverer.cutActive();
      }
      await deliverer.close();
    },
  };
  const control = options.control === false ? undefined : watchControl(
        spool.dir,
        (request) => (isAccountsRequest(request) ? (options.accountsControl?.(request) ?? Promise.resolve(ACCOUNTS_OFF)) : handleControl(api, request)),
        logger,
      );
  const stop = api.stop;
  api.stop = async (graceMs) => {
    control?.close();
    await stop(graceMs);
  };
  return api;
}

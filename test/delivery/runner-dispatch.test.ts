import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobReport } from '../../src/delivery/deliver-job.ts';
import type { Deliverer, DeliveryRequest } from '../../src/delivery/deliverer.ts';
import { DestinationLimiter } from '../../src/delivery/destination-limiter.ts';
import { Dispatcher } from '../../src/delivery/runner-dispatch.ts';
import { RunnerEvents } from '../../src/delivery/runner-events.ts';
import type { Outcomes } from '../../src/delivery/runner-outcome.ts';
import { Schedule } from '../../src/delivery/runner-schedule.ts';
import { RunnerState, type Job, type Run } from '../../src/delivery/runner-state.ts';
import type { LoadedMessage, Spool } from '../../src/spool/spool.ts';
import { initialState } from '../../src/spool/state-journal.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { tempDir, testConfig } from '../helpers/spool-fixtures.ts';

/** A run of one message with a job per destination key; the deliverer below answers each attempt when told. */
function runOf(id: string, keys: readonly string[]): { run: Run; jobs: Job[] } {
  const envelope = { id, sender: 's@x.test', recipients: keys.map((k) => `r@${k}`), clientIp: '127.0.0.1', helo: 'h', listener: 'mx', receivedAt: 0 };
  const msg: LoadedMessage = { id, envelope, state: initialState(envelope), size: 1, file: '', bodyOffset: 0, body: Buffer.from('x') };
  const run: Run = { id, msg, pendingJobs: keys.length, activeJobs: 0, results: [], done: Promise.resolve(), finish: () => undefined };
  const jobs = keys.map((key): Job => ({ run, destination: { kind: 'mx', key, domain: key }, recipients: [`r@${key}`] }));
  return { run, jobs };
}

test('jobs start round-robin across destinations within the global concurrency; a run completes when its last job is back', async (t) => {
  const config = testConfig(await tempDir(t), 'concurrency = 1\nper_destination_concurrency = 5');
  const state = new RunnerState(config, 256);
  const started: string[] = [];
  const answers: Array<() => void> = [];
  const deliverer = {
    deliver: (request: DeliveryRequest) =>
      new Promise<JobReport>((resolve) => {
        started.push(`${request.queueId}>${request.destination.key}`);
        answers.push(() => resolve({ results: request.recipients.map((r) => ({ recipient: r, status: 'delivered', reply: '250 ok', enhanced: '2.0.0' })), tried: ['h'] }));
      }),
  } as unknown as Deliverer;
  const completed: string[] = [];
  const outcomes = { complete: async (run: Run) => void completed.push(run.id) } as unknown as Outcomes;
  const schedule = new Schedule({} as Spool, Date.now, () => undefined);
  t.after(() => schedule.stop());
  const events = new RunnerEvents();
  const attempts: string[] = [];
  events.subscribe((e) => e.type === 'attempt' && attempts.push(e.queueId));
  const dispatcher = new Dispatcher({ state, schedule, spool: {} as Spool, events, logger: silentLogger(), now: Date.now, limiter: new DestinationLimiter(5, 0), deliverer, outcomes });

  const m1 = runOf('M1', ['a.test', 'b.test']);
  const m2 = runOf('M2', ['a.test']);
  const m3 = runOf('M3', ['a.test']);
  state.queues.set('a.test', [m1.jobs[0] as Job, m2.jobs[0] as Job, m3.jobs[0] as Job]);
  state.queues.set('b.test', [m1.jobs[1] as Job]);
  for (const m of [m1, m2, m3]) state.runs.set(m.run.id, m.run);

  dispatcher.dispatch();
  assert.deepEqual(started, ['M1>a.test'], 'one at a time (concurrency = 1)');
  for (let i = 0; i < 4; i++) {
    answers.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.deepEqual(started, ['M1>a.test', 'M1>b.test', 'M2>a.test', 'M3>a.test'], 'b.test gets its turn before a.test goes again');
  assert.deepEqual(attempts, ['M1', 'M1', 'M2', 'M3']);
  assert.deepEqual(completed, ['M1', 'M2', 'M3']);
  assert.equal(state.active, 0);
  assert.equal(state.counters.delivered, 4);
});

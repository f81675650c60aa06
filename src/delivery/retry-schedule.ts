// PURE. When to try again. The schedule is the operator's list of waits
// (config delivery.retry_schedule); its last value repeats. Nothing is tried
// after receivedAt + queue_lifetime: the last attempt is pulled in to that
// moment, and a message still deferred then has expired.

/** The wait after the n-th attempt (n >= 1). */
export function retryDelay(schedule: readonly number[], attempts: number): number {
  if (schedule.length === 0) return 60_000;
  const index = Math.min(Math.max(attempts, 1), schedule.length) - 1;
  return schedule[index] as number;
}

export type RetryPlan = { readonly kind: 'retry'; readonly at: number } | { readonly kind: 'expired' };

export function planRetry(input: {
  readonly now: number;
  readonly receivedAt: number;
  readonly attempts: number;
  readonly schedule: readonly number[];
  readonly lifetime: number;
}): RetryPlan {
  const deadline = input.receivedAt + input.lifetime;
  if (input.now >= deadline) return { kind: 'expired' };
  return { kind: 'retry', at: Math.min(input.now + retryDelay(input.schedule, input.attempts), deadline) };
}

/** A delay warning is due once, after `delayWarning` (0 = never), never for the null sender. */
export function delayWarningDue(input: {
  readonly now: number;
  readonly receivedAt: number;
  readonly delayWarning: number;
  readonly warned: boolean;
  readonly sender: string;
}): boolean {
  return input.delayWarning > 0 && !input.warned && input.sender !== '' && input.now - input.receivedAt >= input.delayWarning;
}

// The one polling helper of the tests: a bounded wait for a condition that no
// event announces. Where an event exists (a sink's waitFor, a store's onSwap,
// a child's exit, runner.stop() awaiting attempts in flight), await the event
// instead. To show that something does NOT happen, first wait for the signal
// that it cannot happen any more (the spool is empty and the runner stopped,
// the other messages are parked); only a timer that may or may not fire has
// no such signal, and then watchFor() gives it the time it would need.

/**
 * A wait for something that will happen is cheap when it does (it returns at
 * once), so its bound only matters on a machine too loaded to keep time: CI
 * runs four test processes on two cores, and a 5 s bound failed there at load
 * 16-20. Every such bound is multiplied by this (RELAYGUARD_TEST_WAIT_SCALE,
 * default 3). watchFor(), which waits its whole time to show an absence, is not.
 */
export const WAIT_SCALE = Math.max(1, Number(process.env.RELAYGUARD_TEST_WAIT_SCALE ?? 3) || 3);

async function poll(predicate: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return true;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, left)));
  }
}

/**
 * Resolves as soon as `predicate` returns true, looking every `intervalMs`;
 * rejects after `timeoutMs` with "timed out after N ms waiting for <what>"
 * (`what` may be a function, to show the state at that moment).
 * An error thrown by the predicate ends the wait at once (a process that
 * died is not worth waiting for).
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string | (() => string),
  intervalMs = 20,
): Promise<void> {
  const boundMs = timeoutMs * WAIT_SCALE;
  if (await poll(predicate, boundMs, intervalMs)) return;
  throw new Error(`timed out after ${boundMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
}

/**
 * Watches for `sign` for at most `withinMs` and returns as soon as it shows,
 * without failing: the assertion that follows decides. For "this does not
 * happen" where only a timer could make it happen, `sign` is what would show
 * that it happened and `withinMs` the time it would take.
 */
export async function watchFor(sign: () => boolean | Promise<boolean>, withinMs: number, intervalMs = 20): Promise<void> {
  await poll(sign, withinMs, intervalMs);
}

// Trailing-edge debounce: a burst of triggers (an editor writes, renames,
// touches; a deploy copies seven files) runs the action once, `ms` after the
// last trigger. Uses the global timers so tests can drive it with mock timers.

export interface Debouncer {
  trigger(): void;
  cancel(): void;
}

export function debounce(action: () => void, ms: number): Debouncer {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return {
    trigger() {
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = undefined;
        action();
      }, ms);
      // A pending reload must not keep a stopping process alive.
      timer.unref?.();
    },
    cancel() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}

// A file that is not there is often an expected answer in the spool (removed
// meanwhile, never created); every other error is a real one.
export function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** For `.catch()` of an unlink or read: a missing file is fine, anything else is rethrown. */
export function ignoreMissing(error: unknown): void {
  if (!isMissing(error)) throw error;
}

/** For `.catch()` of a read at start-up: a missing file or directory reads as `value`. */
export function ifMissing<T>(value: T): (error: unknown) => T {
  return (error) => {
    if (isMissing(error)) return value;
    throw error;
  };
}

// What a CLI command gets from the outside world, so commands are testable
// without spawning a process. Every command is
//   run<Name>(argv: string[], io: CliIo): Promise<number>   (the exit code)
// Exit codes: 0 success, 1 a user error with a clear message, 2 usage.
import type { Readable, Writable } from 'node:stream';

export interface CliIo {
  readonly stdin: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env: NodeJS.ProcessEnv;
}

export const EXIT_OK = 0;
export const EXIT_USER_ERROR = 1;
export const EXIT_USAGE = 2;

export function processIo(): CliIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env };
}

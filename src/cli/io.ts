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
  quietOnBrokenPipe();
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env };
}

let pipeGuarded = false;

/**
 * `relayguard queue list | head`: once head has read its lines and gone, a
 * write fails with EPIPE (Node ignores SIGPIPE), which unhandled is a crash
 * with a stack trace. The reader stopped reading because it had what it
 * wanted: stop quietly, exit 0. Any other output error stays an error.
 */
function quietOnBrokenPipe(): void {
  if (pipeGuarded) return;
  pipeGuarded = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      process.exit(EXIT_OK);
    });
  }
}

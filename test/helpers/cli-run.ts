// Running `relayguard` commands in tests: in-process with a captured CliIo,
// or as a real child process (bin/relayguard.js) for exit codes and stdin.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import type { CliIo } from '../../src/cli/io.ts';

export const BIN = path.resolve('bin/relayguard.js');

/** A CliIo whose stdout and stderr are collected as text. */
export function captureIo(): { io: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void): Writable =>
    new Writable({
      write(chunk, _encoding, done) {
        append(String(chunk));
        done();
      },
    });
  return {
    io: { stdin: new PassThrough(), stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: {} },
    out: () => out,
    err: () => err,
  };
}

/** `relayguard ARGS` in a child process (`input` on stdin if given), killed after 30 s. */
export function runBin(args: readonly string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

// `relayguard serve` in a child process, as an administrator runs it: for the
// tests that kill it (SIGKILL) or read its exit code. The relay's bound ports
// come from its relay.started log line (the config needs log_level = "info").
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const BIN = path.resolve('bin/relayguard.js');

export interface RelayProcess {
  readonly child: ChildProcess;
  /** The relay.started line, parsed; rejects if the process exits first. */
  readonly started: Promise<Record<string, unknown>>;
  readonly exited: Promise<number | null>;
  stderr(): string;
}

export function serve(configFile: string): RelayProcess {
  return watchRelay(spawn(process.execPath, [BIN, 'serve', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** A `relayguard serve` started some other way (an installed package, another user, the build): its start and exit. */
export function watchRelay(child: ChildProcess): RelayProcess {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let buffer = '';
  const started = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      for (const line of buffer.split('\n')) {
        if (line.includes('"relay.started"')) resolve(JSON.parse(line) as Record<string, unknown>);
      }
      // Only the last, possibly partial, line is kept.
      buffer = buffer.slice(buffer.lastIndexOf('\n') + 1);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before starting: ${stderr}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, started, exited, stderr: () => stderr };
}

/** The bound port of the listener named `name` (from relay.started). */
export function listenerPort(started: Record<string, unknown>, name = 'mx'): number {
  return (started.smtp as Array<{ name: string; port: number }>).find((s) => s.name === name)?.port as number;
}

/** How many messages the running relay's spool holds, from its GET /api/status (the [http] listener named in relay.started). */
export async function queuedOf(started: Record<string, unknown>): Promise<number> {
  const http = started.http as { host: string; port: number } | undefined;
  if (!http) throw new Error('the relay has no [http] listener to ask');
  const response = await fetch(`http://127.0.0.1:${http.port}/api/status`, { signal: AbortSignal.timeout(10_000) });
  const status = (await response.json()) as { queue?: { size?: number; error?: string } };
  if (typeof status.queue?.size !== 'number') throw new Error(`GET /api/status: no queue size (${JSON.stringify(status.queue)})`);
  return status.queue.size;
}

// `relayguard queue` in-process with a captured CliIo, and the config.toml the
// queue tests run it on (test/cli/queue.test.ts, queue.slow.ts).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { runQueue } from '../../src/cli/queue.ts';
import type { CliIo } from '../../src/cli/io.ts';

export interface Run {
  code: number;
  out: string;
  err: string;
}

export async function queue(args: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) => new Writable({ write: (chunk, _enc, cb) => (append(String(chunk)), cb()) });
  const io: CliIo = { stdin: new PassThrough(), stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: {} };
  const code = await runQueue(args, io);
  return { code, out, err };
}

export async function writeConfig(dir: string, smarthost: string): Promise<string> {
  const file = path.join(dir, 'config.toml');
  await writeFile(
    file,
    [
      'hostname = "relay.test"',
      'data_dir = "./data"',
      '[[listeners]]',
      'address = "127.0.0.1:0"',
      'role = "mx"',
      '[delivery]',
      'mode = "smarthost"',
      'retry_schedule = ["1h"]',
      '[delivery.smarthost]',
      `hosts = ["${smarthost}"]`,
    ].join('\n'),
  );
  return file;
}

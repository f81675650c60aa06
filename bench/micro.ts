// 4. The micro-benchmarks of other issues, run as they are (each in its own
// process, so one cannot warm the other's JIT), their figures read back from
// the JSON each writes when BENCH_JSON is set.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO } from './lib/relay-child.ts';

export interface MicroResult {
  readonly name: string;
  readonly seconds: number;
  readonly figures?: Record<string, unknown>;
  readonly error?: string;
}

export async function runMicro(name: string, script: string, timeoutMs: number): Promise<MicroResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-micro-'));
  const json = path.join(dir, 'figures.json');
  const started = performance.now();
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'bench', script)], {
      cwd: REPO,
      env: { ...process.env, BENCH_JSON: json },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(timer);
    const seconds = (performance.now() - started) / 1000;
    if (code !== 0) return { name, seconds, error: `exit ${code}: ${stderr.slice(-1000)}` };
    return { name, seconds, figures: JSON.parse(await readFile(json, 'utf8')) as Record<string, unknown> };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

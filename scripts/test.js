// `npm test` (and test:slow, test:pack, ...): node's test runner on the
// TypeScript sources, with the transpilation done once instead of in every
// test process.
//
//   node scripts/test.js [node --test options and files...]
//
// node --test starts a process per test file (Node 20), and `--import tsx`
// costs each of them ~0.35 s of CPU more than plain node: tsx's own modules,
// its resolver on every import and a cache lookup per file. Here every .ts
// file of src/ and test/ is transpiled in one esbuild pass into a temporary
// directory, and each test process registers scripts/ts-loader/hooks.js,
// which only reads the copy (or transpiles a file the pass did not see, or
// one edited since). Paths are unchanged: a test module's import.meta.url is
// still test/x/y.test.ts. Child processes a test starts (`--import tsx`,
// bin/relayguard.js) and delivery worker threads still use tsx.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { ROOT, TRANSFORM_OPTIONS, transpiledPath } from './ts-loader/options.js';

const TRANSPILED = ['src', 'test'];

async function tsFiles(dir) {
  const found = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && /\.[cm]?ts$/.test(entry.name) && !entry.name.endsWith('.d.ts')) found.push(path.join(entry.parentPath ?? entry.path, entry.name));
  }
  return found;
}

async function transpileAll(outdir) {
  const files = (await Promise.all(TRANSPILED.map((dir) => tsFiles(path.join(ROOT, dir))))).flat();
  const dirs = new Set(files.map((file) => path.dirname(transpiledPath(outdir, file))));
  await Promise.all([...dirs].map((dir) => mkdir(dir, { recursive: true })));
  await Promise.all(files.map(async (file) => {
    const { code } = await esbuild.transform(await readFile(file, 'utf8'), { ...TRANSFORM_OPTIONS, sourcefile: file });
    await writeFile(transpiledPath(outdir, file), code);
  }));
  return files.length;
}

const outdir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-test-'));
let code = 1;
try {
  const startedMs = Date.now();
  await transpileAll(outdir);
  await esbuild.stop?.();
  const child = spawn(process.execPath, ['--import', path.join(ROOT, 'scripts/ts-loader/register.js'), '--test', ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, RELAYGUARD_TS_OUTDIR: outdir, RELAYGUARD_TS_SINCE: String(startedMs) },
  });
  const forward = (signal) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  code = await new Promise((resolve) => child.on('exit', (status, signal) => resolve(status ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1))));
} finally {
  await rm(outdir, { recursive: true, force: true });
}
process.exitCode = code;

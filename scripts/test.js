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
import { pathToFileURL } from 'node:url';
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

/**
 * `--batches=N` (ours, not node's): the test files run in N processes, not one
 * each. Most of a test process's CPU is loading modules (node's bootstrap,
 * the hooks thread, src/ and its dependencies: ~0.3-1 s), paid again by every
 * file; a batch pays it once. A batch is one generated module that imports
 * each of its files inside a describe() named after the file (its tests are
 * that suite's: `after()` hooks run when the file's tests are done, and the
 * count of tests is unchanged), all files first and then their tests, one at
 * a time in file order, as with `--experimental-test-isolation=none` on
 * Node 22. A file that must
 * have a process of its own (it changes the working directory, process-wide
 * state, ...) says so with a line `// npm test: own process` near its top.
 * Files go to batches longest first, each to the batch with the least time so
 * far: a file's time is what it took in the last batched run here (recorded
 * in DURATIONS by scripts/test-run.js), or, for a file not run yet, its size
 * times the average time per byte of the others.
 */
const DURATIONS = path.join(ROOT, 'node_modules', '.cache', 'relayguard', 'test-durations.json');

async function lastDurations() {
  try {
    return JSON.parse(await readFile(DURATIONS, 'utf8'));
  } catch {
    return {};
  }
}
const OWN_PROCESS = /^\/\/ npm test: own process\b/m;

/** node --test's options that this runner takes (as --name=value), and --batches. */
function parseArgs(argv) {
  const options = { files: [], batches: 0, concurrency: undefined, timeout: undefined, reporters: [], destinations: [], namePatterns: [] };
  for (const arg of argv) {
    const [, name, value] = /^(--[a-z-]+)=(.*)$/s.exec(arg) ?? [];
    if (!arg.startsWith('-')) options.files.push(arg);
    else if (name === '--batches') options.batches = Number(value);
    else if (name === '--test-concurrency') options.concurrency = Number(value);
    else if (name === '--test-timeout') options.timeout = Number(value);
    else if (name === '--test-reporter') options.reporters.push(value);
    else if (name === '--test-reporter-destination') options.destinations.push(value);
    else if (name === '--test-name-pattern') options.namePatterns.push(value);
    else throw new Error(`scripts/test.js: unsupported option ${arg} (it takes --test-concurrency=, --test-timeout=, --test-reporter=, --test-reporter-destination=, --test-name-pattern=, --batches=)`);
  }
  return options;
}

async function batchFiles(files, batches, outdir) {
  const alone = [];
  const shared = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    (OWN_PROCESS.test(text.slice(0, 4000)) ? alone : shared).push({ file, size: text.length });
  }
  const last = await lastDurations();
  let knownMs = 0;
  let knownSize = 0;
  for (const entry of shared) {
    entry.ms = last[path.relative(ROOT, path.resolve(entry.file))];
    if (typeof entry.ms === 'number') {
      knownMs += entry.ms;
      knownSize += entry.size;
    }
  }
  const msPerByte = knownSize ? knownMs / knownSize : 1;
  for (const entry of shared) if (typeof entry.ms !== 'number') entry.ms = entry.size * msPerByte;
  const bins = Array.from({ length: Math.min(batches, shared.length) }, () => ({ size: 0, files: [] }));
  for (const entry of shared.sort((a, b) => b.ms - a.ms || a.file.localeCompare(b.file))) {
    const bin = bins.reduce((least, b) => (b.size < least.size ? b : least));
    bin.size += entry.ms;
    bin.files.push(entry.file);
  }
  const entries = [];
  for (const [index, bin] of bins.entries()) {
    const entry = path.join(outdir, `batch-${index + 1}-of-${bins.length}.test.mjs`);
    await writeFile(entry, [
      `// ${bin.files.length} test files in one process (scripts/test.js --batches).`,
      "import { describe } from 'node:test';",
      `const files = ${JSON.stringify(bin.files.sort().map((file) => [path.relative(ROOT, path.resolve(file)), pathToFileURL(path.resolve(file)).href]), null, 1)};`,
      'let imported = 0;',
      'let allImported;',
      'const everyFile = new Promise((resolve) => { allImported = resolve; });',
      'for (const [name, url] of files) {',
      '  describe(name, async () => {',
      '    let failure;',
      '    try {',
      '      await import(url);',
      '    } catch (error) {',
      '      failure = error;',
      '    }',
      '    if (++imported === files.length) allImported();',
      '    await everyFile;',
      '    if (failure) throw failure;',
      '  });',
      '}',
      '',
    ].join('\n'));
    entries.push({ file: entry, count: bin.files.length });
  }
  return [...entries, ...alone.map((entry) => ({ file: entry.file, count: 1 }))];
}

const outdir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-test-'));
let code = 1;
try {
  const startedMs = Date.now();
  await transpileAll(outdir);
  await esbuild.stop?.();
  const options = parseArgs(process.argv.slice(2));
  const runs = options.batches > 0 ? await batchFiles(options.files, options.batches, outdir) : options.files.map((file) => ({ file, count: 1 }));
  const perFile = Math.max(...runs.map((entry) => entry.count));
  // The batches take the --test-concurrency slots; the files that run alone
  // (listed after them) go one after another through one more slot, rather
  // than wait for a batch to end.
  const alone = options.batches > 0 && runs.length > options.batches;
  const concurrency = alone && options.concurrency ? options.concurrency + 1 : options.concurrency;
  const child = spawn(process.execPath, [
    '--import', path.join(ROOT, 'scripts/ts-loader/register.js'),
    ...(options.timeout ? [`--test-timeout=${options.timeout}`] : []),
    path.join(ROOT, 'scripts/test-run.js'),
  ], {
    stdio: 'inherit',
    env: {
      ...process.env,
      RELAYGUARD_TS_OUTDIR: outdir,
      RELAYGUARD_TS_SINCE: String(startedMs),
      RELAYGUARD_TEST_RUN: JSON.stringify({
        files: runs.map((entry) => path.resolve(entry.file)),
        concurrency,
        fileTimeout: options.timeout ? options.timeout * perFile : undefined,
        reporters: options.reporters,
        destinations: options.destinations,
        namePatterns: options.namePatterns,
        durationsFile: options.batches > 0 ? DURATIONS : undefined,
      }),
    },
  });
  const forward = (signal) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  code = await new Promise((resolve) => child.on('exit', (status, signal) => resolve(status ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1))));
} finally {
  await rm(outdir, { recursive: true, force: true });
}
process.exitCode = code;

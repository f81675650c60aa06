// The second half of scripts/test.js: node:test's run() on the files (or
// batches) that scripts/test.js prepared, with the reporters the command line
// asked for. It runs as
//   node --import scripts/ts-loader/register.js [--test-timeout=T] scripts/test-run.js
// so every test process it starts gets those two options (node passes its own
// execArgv on) and each test has T, as under `node --test --test-timeout=T`.
// The runner's own limit on a whole process is run()'s `timeout`, set apart:
// a batch of n files gets n times T (RELAYGUARD_TEST_RUN.fileTimeout).
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { run } from 'node:test';
import * as builtin from 'node:test/reporters';

const { files, concurrency, fileTimeout, reporters, destinations, namePatterns, durationsFile } = JSON.parse(process.env.RELAYGUARD_TEST_RUN);
delete process.env.RELAYGUARD_TEST_RUN;

async function reporterFor(name) {
  let reporter = Object.hasOwn(builtin, name) ? builtin[name] : undefined;
  if (!reporter) {
    const specifier = name.startsWith('.') || path.isAbsolute(name) ? pathToFileURL(path.resolve(name)).href : name;
    reporter = (await import(specifier)).default;
  }
  // As node --test: a class (spec) is instantiated, a generator function used as it is.
  return reporter?.prototype && Object.getOwnPropertyDescriptor(reporter.prototype, 'constructor') ? new reporter() : reporter;
}

const stream = run({
  files,
  concurrency,
  timeout: fileTimeout ?? Infinity,
  // A process ends when its tests have: a server or timer a test file forgot
  // to close (say, because its after hook threw before reaching the close)
  // must not keep a batch of 40 files alive until the whole-process timeout.
  // Each test still has its own --test-timeout.
  forceExit: true,
  ...(namePatterns.length ? { testNamePatterns: namePatterns } : {}),
});
let failed = false;
stream.on('test:fail', (data) => {
  if (!data.todo) failed = true;
});
// How long each batched file took (its describe()), for the next run's
// batches (scripts/test.js): a file's time, not its size, when it is known.
const durations = {};
stream.on('test:pass', (data) => {
  if (durationsFile && data.nesting === 0 && /\.ts$/.test(data.name) && data.details?.duration_ms !== undefined) durations[data.name] = Math.round(data.details.duration_ms);
});
const names = reporters.length ? reporters : [process.stdout.isTTY ? 'spec' : 'tap'];
const finished = [];
for (const [index, name] of names.entries()) {
  const where = destinations[index] ?? 'stdout';
  const destination = where === 'stdout' ? process.stdout : where === 'stderr' ? process.stderr : createWriteStream(where);
  const piped = stream.compose(await reporterFor(name)).pipe(destination, { end: destination !== process.stdout && destination !== process.stderr });
  finished.push(new Promise((resolve) => (destination === process.stdout || destination === process.stderr ? stream.once('end', resolve) : piped.once('finish', resolve))));
}
await Promise.all(finished);
process.exitCode = failed ? 1 : 0;
if (durationsFile && Object.keys(durations).length) {
  let known = {};
  try {
    known = JSON.parse(readFileSync(durationsFile, 'utf8'));
  } catch {
    // first run, or a file from another version: start again
  }
  mkdirSync(path.dirname(durationsFile), { recursive: true });
  writeFileSync(durationsFile, `${JSON.stringify({ ...known, ...durations }, null, 1)}\n`);
}

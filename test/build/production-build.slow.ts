// The production build (scripts/build.js) and how bin/relayguard.js chooses
// between it and the sources. Everything runs in a copy of the package in a
// temp directory (its own src/, scripts/, bin/, dist/; node_modules linked),
// so the checkout's dist/ is never touched and the sources can be edited.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import nodemailer from 'nodemailer';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { watchRelay } from '../helpers/relay-process.ts';
import { HARNESS_LISTENERS, smarthostTo } from '../helpers/relay-harness.ts';
import { makeTestConfig } from '../helpers/test-config.ts';

const REPO = path.resolve('.');
const COPIED = ['src', 'bin', 'scripts', 'package.json', 'package-lock.json', 'tsconfig.json', 'test/helpers/worker-entry-echo.ts', 'test/helpers/worker-entry-probe.ts'];
const USAGE = 'usage: relayguard <command>';

let copy = '';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `node ARGS` with RELAYGUARD_RUN set (or unset), killed after 60 s. */
function node(args: readonly string[], run?: string): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.RELAYGUARD_RUN;
  if (run !== undefined) env.RELAYGUARD_RUN = run;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const bin = (args: readonly string[], run?: string) => node([path.join(copy, 'bin', 'relayguard.js'), ...args], run);

async function buildCopy(extra: readonly string[] = []): Promise<void> {
  const built = await node([path.join(copy, 'scripts', 'build.js'), ...extra]);
  assert.equal(built.code, 0, built.stderr);
}

/** Replaces `from` by `to` in a file of the copy, failing if `from` is not there. */
async function edit(file: string, from: string, to: string): Promise<void> {
  const text = await readFile(file, 'utf8');
  assert.ok(text.includes(from), `${file} contains ${JSON.stringify(from)}`);
  await writeFile(file, text.replace(from, to));
}

async function distFileWith(needle: string): Promise<string> {
  const dir = path.join(copy, 'dist');
  for (const name of await readdir(dir)) {
    if (name.endsWith('.js') && (await readFile(path.join(dir, name), 'utf8')).includes(needle)) return path.join(dir, name);
  }
  throw new Error(`no file in dist/ contains ${needle}`);
}

before(async () => {
  copy = await mkdtemp(path.join(os.tmpdir(), 'relayguard-build-'));
  for (const item of COPIED) await cp(path.join(REPO, item), path.join(copy, item), { recursive: true });
  await symlink(path.join(REPO, 'node_modules'), path.join(copy, 'node_modules'));
  await buildCopy();
});

after(async () => {
  if (copy) await rm(copy, { recursive: true, force: true });
});

test('the build: one file per entry point, the dashboard assets, and a stamp of the sources', async () => {
  const stamp = JSON.parse(await readFile(path.join(copy, 'dist', 'build.json'), 'utf8')) as { fingerprint: string; entries: Record<string, string> };
  assert.deepEqual(stamp.entries, { main: 'main.js', 'delivery-worker': 'delivery-worker.js', 'replay-worker': 'replay-worker.js' });
  assert.match(stamp.fingerprint, /^[0-9a-f]{64}$/);
  const { sourceFingerprint } = (await import(pathToFileURL(path.join(copy, 'scripts', 'build-stamp.js')).href)) as { sourceFingerprint: (root: string) => string };
  assert.equal(stamp.fingerprint, sourceFingerprint(copy));
  assert.deepEqual((await readdir(path.join(copy, 'dist', 'assets'))).sort(), (await readdir(path.join(REPO, 'src', 'http', 'assets'))).sort());
  const names = await readdir(copy);
  assert.ok(!names.some((name) => name.startsWith('dist.')), `no temp build folder left: ${names.join(' ')}`);
});

test('the built relay serves without node_modules: SMTP in, delivery out, the dashboard and its assets', async (t) => {
  const sink = await startSmtpSink();
  const dir = await makeTestConfig(`log_level = "info"\n${HARNESS_LISTENERS}${smarthostTo(sink.port)}`, {
    'local-domains': 'example.test\n',
    'relay-networks': '127.0.0.1\n',
    'checks.toml': '[sender_domain]\nreject_unknown = false\n',
  }, { generateTls: true }); // the bundle's lazily loaded selfsigned chunk must work without node_modules
  const modules = path.join(copy, 'node_modules');
  await rm(modules);
  const child = spawn(process.execPath, [path.join(copy, 'bin', 'relayguard.js'), 'serve', '--config', dir.configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RELAYGUARD_RUN: 'dist' },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
    await symlink(path.join(REPO, 'node_modules'), modules);
    await sink.close();
    await dir.cleanup();
  });
  const relay = watchRelay(child);
  const started = await relay.started;
  const { version } = JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
  assert.equal(started.msg, `relayguard ${version} started`);
  const mx = (started.smtp as Array<{ name: string; port: number }>).find((s) => s.name === 'mx')?.port as number;
  const http = started.http as { host: string; port: number };

  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: mx, secure: false, name: 'client.test', tls: { rejectUnauthorized: false } });
  try {
    const info = await transport.sendMail({ envelope: { from: 'alice@sender.test', to: ['bob@example.test'] }, raw: 'Subject: built\r\n\r\nfrom dist\r\n' });
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
  } finally {
    transport.close();
  }
  await sink.waitFor(1, 10_000);
  assert.match(sink.messages[0]?.raw.toString() ?? '', /from dist/);

  const base = `http://${http.host}:${http.port}`;
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<html/);
  const script = await fetch(`${base}/assets/app.js`);
  assert.equal(script.status, 200);
  assert.equal(await script.text(), await readFile(path.join(REPO, 'src', 'http', 'assets', 'app.js'), 'utf8'));
  const metrics = await fetch(`${base}/metrics`);
  assert.match(await metrics.text(), /^# HELP /m);

  child.kill('SIGTERM');
  assert.equal(await exited, 0, `SIGTERM drains and exits 0: ${relay.stderr()}`);
  assert.equal(relay.stderr(), '');
});

test('bin runs dist/ only while it is a build of the sources here; RELAYGUARD_RUN chooses', async () => {
  // Mark the build so its output can be told from the sources'.
  await edit(await distFileWith(USAGE), USAGE, 'usage: relayguard-built <command>');
  let run = await bin(['--help']);
  assert.equal(run.code, 0);
  assert.match(run.stdout, /usage: relayguard-built /, 'an up-to-date dist/ runs');
  assert.equal(run.stderr, '');
  run = await bin(['--help'], 'sources');
  assert.match(run.stdout, /usage: relayguard </, 'RELAYGUARD_RUN=sources runs the sources');

  // An edit of the sources makes dist/ stale: the sources run, and say why.
  await edit(path.join(copy, 'src', 'cli', 'main.ts'), USAGE, 'usage: relayguard-edited <command>');
  run = await bin(['--help']);
  assert.equal(run.code, 0);
  assert.match(run.stdout, /usage: relayguard-edited /, 'the edit runs at once, without a build');
  assert.match(run.stderr, /dist\/ is out of date with the sources, running the sources/);
  run = await bin(['--help'], 'dist');
  assert.equal(run.code, 1);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, /RELAYGUARD_RUN=dist but dist\/ is out of date with the sources: run `npm run build`/);

  // Undoing the edit makes the same build current again (content, not times).
  await edit(path.join(copy, 'src', 'cli', 'main.ts'), 'usage: relayguard-edited <command>', USAGE);
  run = await bin(['--help'], 'dist');
  assert.match(run.stdout, /usage: relayguard-built /);

  // A dependency change (package-lock.json) is a change of what the build holds.
  await edit(path.join(copy, 'package-lock.json'), '"name": "relayguard"', '"name": "relayguard" ');
  run = await bin(['--help']);
  assert.match(run.stdout, /usage: relayguard </);
  assert.match(run.stderr, /out of date/);

  await buildCopy();
  run = await bin(['--help'], 'dist');
  assert.equal(run.code, 0);
  assert.match(run.stdout, /usage: relayguard </, 'the rebuild replaced the marked build');
  assert.equal(run.stderr, '');

  await rm(path.join(copy, 'dist'), { recursive: true });
  run = await bin(['--help']);
  assert.match(run.stdout, /usage: relayguard </);
  assert.equal(run.stderr, '', 'no dist/ at all is the ordinary development checkout: nothing to say');
  run = await bin(['--help'], 'dist');
  assert.equal(run.code, 1);
  assert.match(run.stderr, /there is no dist\//);
  run = await bin(['--help'], 'fast');
  assert.equal(run.code, 2);
  assert.match(run.stderr, /RELAYGUARD_RUN must be auto, dist or sources/);
});

test('a worker entry started with workerEntryUrl runs from the sources and from a build that lists it', async () => {
  const probe = path.join(copy, 'test', 'helpers', 'worker-entry-probe.ts');
  const fromSources = await node(['--import', 'tsx', probe]);
  assert.equal(fromSources.code, 0, fromSources.stderr);
  assert.deepEqual(JSON.parse(fromSources.stdout), { echo: 'ping', url: pathToFileURL(path.join(copy, 'test', 'helpers', 'worker-entry-echo.ts')).href });

  // Adding an entry point is one line in scripts/build.js.
  const entries = "export const ENTRY_POINTS = ['src/cli/main.ts', 'src/delivery/delivery-worker.ts', 'src/journal/replay-worker.ts'];";
  const script = path.join(copy, 'scripts', 'build.js');
  await edit(script, entries, "export const ENTRY_POINTS = ['src/cli/main.ts', 'src/delivery/delivery-worker.ts', 'src/journal/replay-worker.ts', 'test/helpers/worker-entry-probe.ts'];");
  await buildCopy(['--outdir', path.join(copy, 'dist-without-worker')]);
  const missing = await node([path.join(copy, 'dist-without-worker', 'worker-entry-probe.js')]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /is not in the build: add 'test\/helpers\/worker-entry-echo\.ts' to ENTRY_POINTS in scripts\/build\.js/);

  await edit(script, "'test/helpers/worker-entry-probe.ts'];", "'test/helpers/worker-entry-probe.ts', 'test/helpers/worker-entry-echo.ts'];");
  await buildCopy(['--outdir', path.join(copy, 'dist-with-worker')]);
  const fromDist = await node([path.join(copy, 'dist-with-worker', 'worker-entry-probe.js')]);
  assert.equal(fromDist.code, 0, fromDist.stderr);
  assert.deepEqual(JSON.parse(fromDist.stdout), { echo: 'ping', url: pathToFileURL(path.join(copy, 'dist-with-worker', 'worker-entry-echo.js')).href });
});

test('every workerEntryUrl() in src/ names a file listed in ENTRY_POINTS', async () => {
  const { ENTRY_POINTS } = (await import(pathToFileURL(path.join(REPO, 'scripts', 'build.js')).href)) as { ENTRY_POINTS: string[] };
  assert.ok(ENTRY_POINTS.includes('src/cli/main.ts'));
  const files = (await readdir(path.join(REPO, 'src'), { recursive: true })).filter((file) => file.endsWith('.ts'));
  const unlisted: string[] = [];
  for (const file of files) {
    // Code lines only: comments may show the call as an example.
    const code = (await readFile(path.join(REPO, 'src', file), 'utf8')).split('\n').filter((line) => !/^\s*(\/\/|\*|\/\*)/.test(line));
    for (const call of code.join('\n').matchAll(/workerEntryUrl\(([^)]*)\)/g)) {
      const argument = call[1] ?? '';
      if (file === path.join('delivery', 'worker-entry.ts') && argument.startsWith('source:')) continue; // the definition
      const literal = /^'([^']+)'$/.exec(argument.trim())?.[1];
      if (!literal) unlisted.push(`src/${file}: workerEntryUrl(${argument}) must be given a string literal`);
      else if (!ENTRY_POINTS.includes(path.posix.join('src', literal))) unlisted.push(`src/${file}: 'src/${literal}' is not in ENTRY_POINTS`);
    }
  }
  assert.deepEqual(unlisted, []);
});

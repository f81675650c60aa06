// `npm pack` → `npm install` of the tarball into a temporary prefix → the
// installed command: --version, check, serve answering SMTP (issue 23 item 1).
// The pack runs in a copy of the package (node_modules linked) so `prepack`
// builds the copy's dist/, never the checkout's. Installing fetches the
// production dependencies (from npm's cache when it has them). `npm run test:pack`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { HARNESS_LISTENERS } from '../helpers/relay-harness.ts';
import { watchRelay } from '../helpers/relay-process.ts';
import { SmtpTalk } from '../helpers/smtp-talk.ts';
import { makeTestConfig } from '../helpers/test-config.ts';

const REPO = path.resolve('.');
const COPIED = ['src', 'bin', 'scripts', 'contrib', 'docs', 'policies', 'package.json', 'package-lock.json', 'tsconfig.json', 'config.example.toml', 'README.md'];

let work = '';
let prefix = '';
let installed = '';
let tarball = '';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command, killed after `timeoutMs`. RELAYGUARD_RUN is unset unless `env` sets it. */
function run(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.RELAYGUARD_RUN;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? work, stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'relayguard-pack-'));
  const copy = path.join(work, 'package');
  for (const item of COPIED) await cp(path.join(REPO, item), path.join(copy, item), { recursive: true });
  await symlink(path.join(REPO, 'node_modules'), path.join(copy, 'node_modules'));
  const packed = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: copy, timeoutMs: 120_000 });
  assert.equal(packed.code, 0, packed.stderr);
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{ filename: string; size: number; files: Array<{ path: string }> }>;
  tarball = path.join(work, info!.filename);
  prefix = path.join(work, 'prefix');
  const install = await run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], { timeoutMs: 180_000 });
  assert.equal(install.code, 0, install.stderr);
  installed = path.join(prefix, 'lib', 'node_modules', 'relayguard');
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

test('the tarball holds dist/ and no sources or tests; the install has no dev dependencies', async () => {
  const listed = await run('tar', ['tzf', tarball]);
  assert.equal(listed.code, 0, listed.stderr);
  const files = listed.stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
  assert.ok(files.includes('dist/main.js'), 'dist/ is built on prepack');
  assert.ok(files.includes('dist/build.json'));
  assert.ok(files.includes('bin/relayguard.js'));
  assert.ok(files.includes('contrib/relayguard.service'));
  assert.ok(files.includes('config.example.toml'));
  assert.deepEqual(files.filter((f) => /^(src|test|bench)\//.test(f) || f === 'package-lock.json'), []);
  const modules = await readdir(path.join(installed, 'node_modules')).catch(() => [] as string[]);
  assert.ok(!modules.includes('tsx') && !modules.includes('esbuild') && !modules.includes('typescript'), `no dev dependency installed: ${modules.join(' ')}`);
  await stat(path.join(prefix, 'bin', 'relayguard'));
});

test('the installed command: --version from dist/ (auto and RELAYGUARD_RUN=dist), sources refused with a reason', async () => {
  const { version } = JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
  const command = path.join(prefix, 'bin', 'relayguard');
  for (const runWith of [undefined, 'dist']) {
    const result = await run(command, ['--version'], runWith ? { env: { RELAYGUARD_RUN: runWith } } : {});
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), `relayguard ${version}`);
    assert.equal(result.stderr, '');
  }
  const sources = await run(command, ['--version'], { env: { RELAYGUARD_RUN: 'sources' } });
  assert.equal(sources.code, 1);
  assert.match(sources.stderr, /needs tsx/);
});

test('the installed command: check, then serve answering SMTP until SIGTERM', async (t) => {
  const dir = await makeTestConfig(`log_level = "info"\n${HARNESS_LISTENERS}`, { 'local-domains': 'example.test\n', 'relay-networks': '127.0.0.1\n' });
  t.after(() => dir.cleanup());
  const command = path.join(prefix, 'bin', 'relayguard');
  const checked = await run(command, ['check', '--config', dir.configFile]);
  assert.equal(checked.code, 0, `${checked.stdout}${checked.stderr}`);

  const child = spawn(command, ['serve', '--config', dir.configFile], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RELAYGUARD_RUN: 'dist' } });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  t.after(async () => {
    clearTimeout(killer);
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  });
  const relay = watchRelay(child);
  const started = await relay.started;
  const mx = (started.smtp as Array<{ name: string; port: number }>).find((s) => s.name === 'mx')?.port as number;
  const talk = await SmtpTalk.connect({ port: mx });
  try {
    const greeting = await talk.read();
    assert.equal(greeting?.code, 220);
    assert.equal((await talk.command('EHLO client.test')).code, 250);
    assert.equal((await talk.command('QUIT')).code, 221);
  } finally {
    talk.close();
  }
  child.kill('SIGTERM');
  assert.equal(await exited, 0, `SIGTERM drains and exits 0: ${relay.stderr()}`);
});

// CLI manners: --help on every command (answered before the command's own
// option parser), `relayguard help COMMAND`, `relayguard --version`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { runCli } from '../../src/cli/main.ts';
import { COMMAND_HELP } from '../../src/cli/help.ts';
import { captureIo, runBin } from '../helpers/cli-run.ts';

const COMMANDS = Object.keys(COMMAND_HELP);

async function cli(argv: string[]) {
  const { io, out, err } = captureIo();
  const code = await runCli(argv, io);
  return { code, out: out(), err: err() };
}

test('every command takes --help and -h (anywhere among its arguments): exit 0, its help on stdout', async () => {
  assert.deepEqual(COMMANDS.sort(), ['accounts', 'check', 'explain', 'passwd', 'queue', 'replay', 'serve']);
  for (const name of COMMANDS) {
    for (const argv of [[name, '--help'], [name, '-h'], [name, '--config', 'nowhere.toml', '--help']]) {
      const run = await cli(argv);
      assert.equal(run.code, 0, `${argv.join(' ')}: ${run.err}`);
      assert.equal(run.err, '', argv.join(' '));
      assert.match(run.out, new RegExp(`^usage: relayguard ${name}[ \\n]`), argv.join(' '));
      assert.match(run.out, /exit status:\n {2}0 {2}success/, argv.join(' '));
    }
  }
  // After a subcommand too, and not after a lone "--".
  assert.match((await cli(['queue', 'list', '--help'])).out, /^usage: relayguard queue /);
  assert.equal((await cli(['queue', 'list', '--', '--help'])).code, 2);
});

test('relayguard help COMMAND prints the same help; help alone the command list; an unknown topic is a usage error', async () => {
  for (const name of COMMANDS) {
    const run = await cli(['help', name]);
    assert.equal(run.code, 0);
    assert.equal(run.out, (await cli([name, '--help'])).out);
  }
  const serve = (await cli(['help', 'serve'])).out;
  for (const needle of ['--config', 'SIGHUP', 'SIGTERM', 'RELAYGUARD_RUN', 'policies_dir']) assert.ok(serve.includes(needle), needle);
  const list = await cli(['help']);
  assert.equal(list.code, 0);
  assert.match(list.out, /^usage: relayguard <command>/);
  for (const name of COMMANDS) assert.match(list.out, new RegExp(`^ {2}${name} `, 'm'));
  const unknown = await cli(['help', 'frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /no command "frobnicate"/);
});

test('the help of explain and queue names every option their usage errors name', async () => {
  for (const [name, argv] of [['explain', ['explain', '--bogus']], ['queue', ['queue', '--bogus']], ['check', ['check', '--bogus']], ['passwd', ['passwd', '--bogus']]] as const) {
    const run = await cli([...argv]);
    assert.equal(run.code, 2, name);
    const options = run.err.match(/--[a-z-]+/g)?.filter((o) => o !== '--bogus') ?? [];
    assert.ok(options.length > 0, `${name}: ${run.err}`);
    for (const option of options) assert.ok(COMMAND_HELP[name].includes(option), `${name} help lacks ${option}`);
  }
});

test('relayguard --version (and -V) prints the package version, from the sources and through bin/', async () => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const run = await cli([flag]);
    assert.equal(run.code, 0);
    assert.equal(run.out, `relayguard ${version}\n`);
  }
  const bin = await runBin(['--version']);
  assert.equal(bin.code, 0, bin.stderr);
  assert.equal(bin.stdout, `relayguard ${version}\n`);
  const help = await runBin(['serve', '--help']);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^usage: relayguard serve/);
});

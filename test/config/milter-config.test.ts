// [milter] in config.toml: off by default on loopback port 10041, and what
// `relayguard check` says about a broken section (file:line kept).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfigText } from '../../src/config/load-config.ts';
import { adminProblem } from '../../src/config/errors.ts';

const MINIMAL = 'hostname = "relay.test"\n[[listeners]]\naddress = "127.0.0.1:2525"\nrole = "mx"\n';

function problems(text: string): string[] {
  const result = validateConfigText('config.toml', text);
  return result.ok ? [] : result.problems.map(adminProblem);
}

test('[milter] defaults: off, 127.0.0.1:10041, answers within 10s, no header', () => {
  const result = validateConfigText('config.toml', MINIMAL);
  assert.ok(result.ok);
  const settings = result.value.milter;
  assert.equal(settings.enabled, false);
  assert.deepEqual(settings.address, { host: '127.0.0.1', port: 10041 });
  assert.equal(settings.socket, undefined);
  assert.equal(settings.socket_mode, '0660');
  assert.equal(settings.command_timeout, 10_000);
  assert.equal(settings.idle_timeout, 330_000);
  assert.equal(settings.decision_header, undefined);
  assert.deepEqual(settings.submission_ports, [587, 465]);
});

test('[milter] mistakes are reported with their line', () => {
  const table: Array<[string, string, RegExp]> = [
    ['unknown key', '[milter]\nenabled = true\nadress = "127.0.0.1:1"\n', /^config\.toml:5: \[milter\] has no key adress/],
    ['bad address', '[milter]\naddress = "nowhere:port"\n', /^config\.toml:6: .*address/],
    ['bad duration', '[milter]\ncommand_timeout = "soon"\n', /^config\.toml:6: .*invalid duration "soon"/],
    ['bad header name', '[milter]\ndecision_header = "X Relayguard:"\n', /^config\.toml:6: .*decision_header/],
    ['bad socket mode', '[milter]\nsocket_mode = "rw-rw----"\n', /^config\.toml:6: .*socket_mode/],
  ];
  for (const [name, text, expected] of table) {
    const found = problems(MINIMAL + text);
    assert.equal(found.length, 1, `${name}: ${found.join(' | ')}`);
    assert.match(found[0] as string, expected, name);
  }
});

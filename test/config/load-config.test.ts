import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfigText } from '../../src/config/load-config.ts';
import { formatProblem } from '../../src/config/errors.ts';

const MINIMAL = 'hostname = "relay.test"\n[[listeners]]\naddress = "127.0.0.1:2525"\nrole = "mx"\n';

function problems(text: string): string[] {
  const result = validateConfigText('/etc/relayguard/config.toml', text);
  return result.ok ? [] : result.problems.map(formatProblem);
}

test('a minimal config gets every default, sections included', () => {
  const result = validateConfigText('/etc/relayguard/config.toml', MINIMAL);
  assert.ok(result.ok);
  assert.equal(result.value.smtp.max_message_size, 25 * 1024 * 1024);
  assert.equal(result.value.smtp.bare_line_endings, 'reject');
  assert.equal(result.value.delivery.queue_lifetime, 5 * 86_400_000);
  assert.equal(result.value.dns.tries, 2);
  assert.equal(result.value.listeners[0]?.tls, 'starttls');
  assert.equal(result.value.dataDir, '/etc/relayguard/data');
  assert.equal(result.value.http.address.port, 8025);
});

test('errors name file and line', () => {
  assert.deepEqual(problems('hostname = "relay.test"\n[[listeners]]\naddress = "127.0.0.1:2525"\nrole = "relay"\n'), [
    '/etc/relayguard/config.toml:4: listeners.role: Invalid option: expected one of "mx"|"submission"',
  ]);
  assert.deepEqual(problems(`${MINIMAL}[smtp]\nmax_message_size = "lots"\nidle_timeout = "5 minutes"\n`), [
    '/etc/relayguard/config.toml:6: smtp.max_message_size: invalid size "lots" (write e.g. 512KB, 25MB)',
    '/etc/relayguard/config.toml:7: smtp.idle_timeout: invalid duration "5 minutes" (write e.g. 30s, 5m, 4h, 5d)',
  ]);
  assert.deepEqual(problems('hostname = "relay.test"\n[[listeners]\n'), ['/etc/relayguard/config.toml:2: TOML syntax: expected end of table array declaration']);
  assert.match(problems(`${MINIMAL}[smtp]\nmax_mesage_size = "1MB"\n`)[0] ?? '', /config\.toml:5: smtp: Unrecognized key: "max_mesage_size"/);
});

test('a dashboard off loopback without a token is refused', () => {
  assert.deepEqual(problems(`${MINIMAL}[http]\naddress = "0.0.0.0:8025"\n`), [
    '/etc/relayguard/config.toml:6: http.address: a dashboard on a non-loopback address needs http.token',
  ]);
  assert.deepEqual(problems(`${MINIMAL}[http]\naddress = "0.0.0.0:8025"\ntoken = "s3cret-token-value"\n`), []);
});

test('smarthost mode needs a smarthost', () => {
  assert.match(problems(`${MINIMAL}[delivery]\nmode = "smarthost"\n`)[0] ?? '', /config\.toml:6: delivery\.mode: mode "smarthost" needs/);
});

test('auth.null_sender: "granted" by default, "any" accepted, anything else is a file:line error', () => {
  assert.deepEqual(problems(`${MINIMAL}[auth]\nnull_sender = "any"\n`), []);
  assert.match(problems(`${MINIMAL}[auth]\nnull_sender = "everyone"\n`)[0] ?? '', /config\.toml:6: auth\.null_sender/);
});

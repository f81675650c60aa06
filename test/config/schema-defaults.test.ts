// Tables left out of config.toml get their documented defaults. (zod 4's
// .default() returns the default value without parsing it, so a table's inner
// defaults need .prefault(); without it smtp.max_recipients was undefined and
// every RCPT was deferred as "too many recipients".)
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfigText } from '../../src/config/load-config.ts';

const MINIMAL = `
hostname = "relay.example.test"
[[listeners]]
address = "127.0.0.1:0"
role = "mx"
`;

it('fills every table of a minimal config with its defaults', () => {
  const result = validateConfigText('config.toml', MINIMAL);
  assert.ok(result.ok);
  const config = result.value;
  assert.equal(config.smtp.max_recipients, 100);
  assert.equal(config.smtp.max_message_size, 25 * 1024 * 1024);
  assert.equal(config.smtp.bare_line_endings, 'reject');
  assert.equal(config.auth.failures_before_lockout, 10);
  assert.equal(config.dns.tries, 2);
  assert.equal(config.delivery.mode, 'mx');
  assert.equal(config.delivery.retry_schedule.length, 7);
  assert.deepEqual(config.http.address, { host: '127.0.0.1', port: 8025 });
  assert.equal(config.cluster.fail_open, true);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseLogFormat, prettyLine } from '../../src/log/logger.ts';
import { configSchema } from '../../src/config/schema.ts';

test('log_format: auto is pretty on a terminal and JSON otherwise; json and pretty force one', () => {
  const table: Array<[Parameters<typeof chooseLogFormat>[0], boolean, string]> = [
    ['auto', true, 'pretty'],
    ['auto', false, 'json'],
    ['json', true, 'json'],
    ['json', false, 'json'],
    ['pretty', true, 'pretty'],
    ['pretty', false, 'pretty'],
  ];
  for (const [setting, terminal, expected] of table) assert.equal(chooseLogFormat(setting, terminal), expected, `${setting}, terminal ${terminal}`);
});

test('log_format defaults to auto', () => {
  const config = configSchema.parse({ hostname: 'relay.test', listeners: [{ address: '127.0.0.1:2525', role: 'mx' }] });
  assert.equal(config.log_format, 'auto');
});

test('a pretty line: time, level, message, then the other fields', () => {
  const line = JSON.stringify({ level: 40, time: '2026-12-06T10:48:46.123Z', service: 'relayguard', msg: 'PROXY header refused', listener: 'mx', peer: '127.0.0.9', detail: { a: 1 }, note: 'two words' });
  assert.equal(prettyLine(line), '10:48:46.123 WARN  PROXY header refused listener=mx peer=127.0.0.9 detail={"a":1} note="two words"\n');
  assert.equal(prettyLine('not json'), 'not json\n');
});

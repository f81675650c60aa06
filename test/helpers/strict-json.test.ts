import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { StrictJsonError, parseStrictJson } from './strict-json.ts';

test('parseStrictJson reads what JSON.parse reads, for generated JSON', () => {
  fc.assert(fc.property(fc.json(), (text) => assert.deepEqual(parseStrictJson(text), JSON.parse(text))), { numRuns: 500 });
  assert.deepEqual(parseStrictJson(' {"a":[1,-2.5e3,"x\\u00e9\\n",true,null,{}],"b":{"c":[]}} '), { a: [1, -2500, 'x\u00e9\n', true, null, {}], b: { c: [] } });
  assert.deepEqual(Object.keys(parseStrictJson('{"__proto__":1}') as object), ['__proto__']);
});

test('parseStrictJson refuses duplicate keys at any depth, and what is not JSON', () => {
  const refused = [
    '{"service":"relayguard","level":30,"service":"relayguard"}',
    '{"a":{"b":1,"b":2}}',
    '[{"x":1},{"y":{"z":[{"k":1,"k":1}]}}]',
    '{"a":1}{"b":2}',
    '{"a":1,}',
    '{"a":01}',
    "{'a':1}",
    '{"a":"\u0001"}',
    '{"a":"\\x"}',
    '',
    '{"a":1',
  ];
  for (const text of refused) assert.throws(() => parseStrictJson(text), StrictJsonError, text);
  assert.throws(() => parseStrictJson('{"msg":"a","msg":"b"}'), /duplicate key "msg"/);
  // Equal keys in different objects are fine.
  assert.deepEqual(parseStrictJson('{"a":{"n":1},"b":{"n":2}}'), { a: { n: 1 }, b: { n: 2 } });
});

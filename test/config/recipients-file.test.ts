// policies/recipients (static recipient verification): the syntax, file:line
// problems, and what a lookup says for listed, unknown, catch-all and
// unverified domains.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRecipientsFile, type RecipientMap, type RecipientStatus } from '../../src/config/recipients-file.ts';
import { formatProblem } from '../../src/config/errors.ts';

function parse(text: string): RecipientMap {
  const result = parseRecipientsFile('recipients', text);
  if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
  return result.value;
}

const FILE = [
  '# comment line',
  'Alice@Example.Test   # local part case does not matter',
  'bob@example.test.',
  'user@Bücher.example',
  '@catchall.test',
  '',
].join('\n');

describe('policies/recipients', () => {
  const map = parse(FILE);
  const rows: ReadonlyArray<readonly [string, string, RecipientStatus]> = [
    ['alice', 'example.test', 'listed'],
    ['ALICE', 'example.test', 'listed'],
    ['bob', 'example.test', 'listed'],
    ['carol', 'example.test', 'unknown'],
    ['user', 'xn--bcher-kva.example', 'listed'],
    ['other', 'xn--bcher-kva.example', 'unknown'],
    ['anyone', 'catchall.test', 'catch-all'],
    ['anyone', 'unlisted.test', 'unverified'],
  ];
  for (const [local, domain, expected] of rows) {
    it(`${local}@${domain} is ${expected}`, () => assert.equal(map.lookup(local, domain), expected));
  }

  it('counts addresses and catch-alls', () => assert.equal(map.size, 4));

  it('an empty file verifies nothing', () => assert.equal(parse('# nothing yet\n').lookup('x', 'example.test'), 'unverified'));

  it('a catch-all wins over listed addresses of the same domain', () => {
    assert.equal(parse('a@example.test\n@example.test\n').lookup('zzz', 'example.test'), 'catch-all');
  });

  it('reports every bad line as file:line', () => {
    const result = parseRecipientsFile('recipients', 'ok@example.test\njust-a-name\nx@not a domain\n"q@x"@example.test\nx@*.example.test\na@example.test trailing\n');
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.deepEqual(result.problems.map((p) => p.line), [2, 3, 4, 5, 6]);
    assert.match(formatProblem(result.problems[0]!), /^recipients:2: .*user@domain/);
  });
});

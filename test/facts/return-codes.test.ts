import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyAnswers, parseCodeRange, type ReturnCodeFilter, type CodeRange } from '../../src/config/return-codes.ts';

const range = (text: string): CodeRange => {
  const parsed = parseCodeRange(text);
  assert.equal(typeof parsed, 'object', `${text}: ${String(parsed)}`);
  return parsed as CodeRange;
};

const filter = (include: string[], exclude: string[] = [], bitmask?: number): ReturnCodeFilter =>
  bitmask === undefined ? { include: include.map(range), exclude: exclude.map(range) } : { include: include.map(range), exclude: exclude.map(range), bitmask };

const DEFAULT = filter([]);

test('answers are sorted into listings, ignored answers and zone problems', () => {
  const table: Array<{ name: string; filter: ReturnCodeFilter; answers: string[]; listed: string[]; problem?: string }> = [
    { name: 'default lists 127.0.0.2', filter: DEFAULT, answers: ['127.0.0.2'], listed: ['127.0.0.2'] },
    { name: 'default lists 127.0.0.0/24', filter: DEFAULT, answers: ['127.0.0.11', '127.0.0.255'], listed: ['127.0.0.11', '127.0.0.255'] },
    { name: 'default never lists 127.0.0.1', filter: DEFAULT, answers: ['127.0.0.1'], listed: [] },
    { name: 'default ignores 127.0.1.2 (another list in a combined zone)', filter: DEFAULT, answers: ['127.0.1.2'], listed: [] },
    { name: 'error range is a zone problem', filter: DEFAULT, answers: ['127.255.255.254'], listed: [], problem: 'error_code' },
    { name: 'error range even with a wide filter', filter: filter(['127.0.0.0/9']), answers: ['127.255.255.252'], listed: [], problem: 'error_code' },
    { name: 'answer outside 127/8 is a hijacked zone', filter: DEFAULT, answers: ['93.184.216.34'], listed: [], problem: 'outside_127' },
    { name: 'single code', filter: filter(['127.0.0.4']), answers: ['127.0.0.2', '127.0.0.4'], listed: ['127.0.0.4'] },
    { name: 'range', filter: filter(['127.0.0.2-127.0.0.3', '127.0.0.10-127.0.0.11']), answers: ['127.0.0.3', '127.0.0.4', '127.0.0.10'], listed: ['127.0.0.3', '127.0.0.10'] },
    { name: 'CIDR', filter: filter(['127.0.1.0/24']), answers: ['127.0.1.2', '127.0.0.2'], listed: ['127.0.1.2'] },
    { name: 'exclude wins over include', filter: filter(['127.0.0.0/16'], ['127.0.0.255']), answers: ['127.0.0.255', '127.0.10.2'], listed: ['127.0.10.2'] },
    { name: 'bitmask matches any shared bit', filter: filter([], [], 4), answers: ['127.0.0.4', '127.0.0.6', '127.0.0.2'], listed: ['127.0.0.4', '127.0.0.6'] },
    { name: 'bitmask plus explicit code', filter: filter(['127.0.0.2'], [], 8), answers: ['127.0.0.2', '127.0.0.8', '127.0.0.4'], listed: ['127.0.0.2', '127.0.0.8'] },
    { name: 'NXDOMAIN-like empty answer', filter: DEFAULT, answers: [], listed: [] },
  ];
  for (const row of table) {
    const result = classifyAnswers(row.filter, row.answers);
    assert.deepEqual(result.listed, row.listed, row.name);
    assert.equal(result.problem, row.problem, row.name);
  }
});

test('return-code filter entries are validated', () => {
  const bad = ['127.0.0', '127.0.0.256', '10.0.0.2', '127.255.255.254', '127.255.255.0/24', '127.0.0.9-127.0.0.2', '127.0.0.1/24', '127.0.0.0/33', 'x'];
  for (const text of bad) assert.equal(typeof parseCodeRange(text), 'string', text);
  assert.deepEqual(parseCodeRange('127.0.0.0/30'), { from: 0x7f000000, to: 0x7f000003 });
  assert.deepEqual(parseCodeRange(' 127.0.0.2 - 127.0.0.3 '), { from: 0x7f000002, to: 0x7f000003 });
});

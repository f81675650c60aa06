// `check` speaks an administrator's language: a table of broken files →
// what it prints (file:line kept).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfigText } from '../../src/config/load-config.ts';
import { parseDnsblFile } from '../../src/config/dnsbl-file.ts';
import { adminProblem } from '../../src/config/errors.ts';

const MINIMAL = 'hostname = "relay.test"\n[[listeners]]\naddress = "127.0.0.1:2525"\nrole = "mx"\n';

function configWords(text: string): string[] {
  const result = validateConfigText('config.toml', text);
  return result.ok ? [] : result.problems.map(adminProblem);
}

test('config.toml problems in admin wording, with file:line', () => {
  const table: Array<[string, string, string[]]> = [
    ['missing top-level key', '[[listeners]]\naddress = "127.0.0.1:2525"\nrole = "mx"\n', ['config.toml: needs hostname = "..." (at the top, before any [table])']],
    ['missing key in an array of tables', 'hostname = "relay.test"\n[[listeners]]\nrole = "mx"\n', ['config.toml:2: [[listeners]] needs address = "..."']],
    ['wrong type', `${MINIMAL}[smtp]\nmax_recipients = "5"\n`, ['config.toml:6: [smtp] max_recipients must be a number, not a string in quotes']],
    ['a fraction for a whole number', `${MINIMAL}[smtp]\nmax_recipients = 2.5\n`, ['config.toml:6: [smtp] max_recipients must be a whole number, not a fraction']],
    ['unknown key', `${MINIMAL}[smtp]\nmax_mesage_size = "1MB"\n`, ['config.toml:5: [smtp] has no key max_mesage_size (misspelt? config.example.toml lists every key)']],
    ['unknown top-level key', `loglevel = "debug"\n${MINIMAL}`, ['config.toml:1: there is no top-level key loglevel (misspelt? config.example.toml lists every key)']],
    ['bad enum value', 'hostname = "relay.test"\n[[listeners]]\naddress = "127.0.0.1:2525"\nrole = "relay"\n', ['config.toml:4: [[listeners]] role must be one of "mx" or "submission"']],
    ['too small', `${MINIMAL}[smtp]\nmax_command_length = 100\n`, ['config.toml:6: [smtp] max_command_length must be at least 512']],
    ['too big', `${MINIMAL}[dns]\ntries = 9\n`, ['config.toml:6: [dns] tries must be at most 5']],
    ['empty list', `${MINIMAL}[delivery]\nretry_schedule = []\n`, ['config.toml:6: [delivery] retry_schedule needs at least 1 entry']],
    ['our own wording keeps its words', `${MINIMAL}[smtp]\nidle_timeout = "5 minutes"\n`, ['config.toml:6: [smtp] idle_timeout: invalid duration "5 minutes" (write e.g. 30s, 5m, 4h, 5d)']],
  ];
  for (const [what, text, expected] of table) assert.deepEqual(configWords(text), expected, what);
});

test('dnsbl.toml: a zone without its name', () => {
  const result = parseDnsblFile('dnsbl.toml', '[[zones]]\nzone = "a.example"\n\n[[zones]]\nweight = 2\n');
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.ok(result.problems.map(adminProblem).includes('dnsbl.toml:4: [[zones]] needs zone = "..."'), result.problems.map(adminProblem).join('\n'));
});

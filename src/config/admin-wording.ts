// zod's issue wording ("Invalid input: expected string, received undefined")
// in an administrator's words, naming the key as it is written in TOML:
// `[[zones]] needs zone = "..."`, `[smtp] has no key max_mesage_size`.
// `relayguard check` prints these; FileProblem.message keeps zod's wording
// (logs, the dashboard and existing callers read it).

type PathPart = string | number;

/** The parts of a zod (v4) issue this file reads. */
export interface IssueLike {
  readonly code?: string;
  readonly path: ReadonlyArray<PropertyKey>;
  readonly message: string;
  readonly expected?: string;
  readonly keys?: readonly string[];
  readonly values?: readonly unknown[];
  readonly origin?: string;
  readonly minimum?: number | bigint;
  readonly maximum?: number | bigint;
  readonly inclusive?: boolean;
}

/** `['zones', 1]` → `[[zones]]` (2nd); `['smtp']` → `[smtp]`; `[]` → '' (top level). */
export function tomlTable(path: readonly PathPart[]): string {
  if (path.length === 0) return '';
  const names = path.filter((part): part is string => typeof part === 'string');
  const arrayOfTables = typeof path[path.length - 1] === 'number';
  return arrayOfTables ? `[[${names.join('.')}]]` : `[${names.join('.')}]`;
}

/** How a key is shown: `[smtp] max_recipients`, `hostname`, `[delivery] retry_schedule[2]`. */
function keyIn(path: readonly PathPart[]): string {
  let end = path.length;
  while (end > 0 && typeof path[end - 1] === 'number') end--;
  const key = String(path[end - 1] ?? '');
  const indexes = path.slice(end).map((i) => `[${String(i)}]`).join('');
  const table = tomlTable(path.slice(0, Math.max(0, end - 1)));
  return `${table ? `${table} ` : ''}${key}${indexes}`;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string in quotes',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list [ ... ]',
  object: 'a table',
  bigint: 'a whole number',
  date: 'a date',
};

const PLACEHOLDERS: Record<string, string> = {
  string: '"..."',
  number: '<number>',
  int: '<whole number>',
  boolean: 'true|false',
  array: '[ ... ]',
};

function typeName(type: string): string {
  return TYPE_NAMES[type] ?? type;
}

function quoted(values: readonly unknown[]): string {
  const shown = values.map((value) => JSON.stringify(value));
  return shown.length <= 1 ? shown.join('') : `${shown.slice(0, -1).join(', ')} or ${shown.at(-1)}`;
}

function received(message: string): string | undefined {
  return /received (\w+)/.exec(message)?.[1];
}

/** One zod issue as a sentence naming the key in TOML form. */
export function adminWording(issue: IssueLike): string {
  const path = issue.path.map((part) => (typeof part === 'number' ? part : String(part)));
  const key = keyIn(path);
  switch (issue.code) {
    case 'invalid_type': {
      const expected = issue.expected ?? 'value';
      const got = received(issue.message);
      if (got === 'undefined') {
        const table = tomlTable(path.slice(0, -1));
        const name = String(path.at(-1));
        if (expected === 'object') return `needs a [${path.filter((p) => typeof p === 'string').join('.')}] table`;
        const wanted = `${name} = ${PLACEHOLDERS[expected] ?? '...'}`;
        return table ? `${table} needs ${wanted}` : `needs ${wanted} (at the top, before any [table])`;
      }
      return `${key} must be ${typeName(expected)}${got ? `, not ${got === 'number' && expected === 'int' ? 'a fraction' : typeName(got)}` : ''}`;
    }
    case 'unrecognized_keys': {
      const keys = issue.keys ?? [];
      const table = tomlTable(path);
      const names = keys.join(', ');
      const where = table ? `${table} has no key` : 'there is no top-level key';
      return `${where}${keys.length === 1 ? '' : 's'} ${names} (misspelt? config.example.toml lists every key)`;
    }
    case 'invalid_value':
      return `${key} must be ${issue.values && issue.values.length > 1 ? 'one of ' : ''}${quoted(issue.values ?? [])}`;
    case 'too_small':
    case 'too_big': {
      const small = issue.code === 'too_small';
      const bound = Number(small ? issue.minimum : issue.maximum);
      const inclusive = issue.inclusive !== false;
      if (issue.origin === 'array') {
        const count = inclusive ? bound : small ? bound + 1 : bound - 1;
        return `${key} needs ${small ? 'at least' : 'at most'} ${count} entr${count === 1 ? 'y' : 'ies'}`;
      }
      if (issue.origin === 'string') {
        if (small && bound <= 1) return `${key} must not be empty`;
        return `${key} must be ${small ? 'at least' : 'at most'} ${bound} characters long`;
      }
      const relation = small ? (inclusive ? 'at least' : 'more than') : inclusive ? 'at most' : 'less than';
      return `${key} must be ${relation} ${bound}`;
    }
    default:
      // Our own refinements and transforms already speak plainly; only the key changes form.
      return key ? `${key}: ${issue.message}` : issue.message;
  }
}

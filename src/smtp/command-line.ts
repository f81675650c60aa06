// PURE. What the front door reads from a command line before smtp-server
// does: its verb, whether anything follows it, whether it is DATA. Read from
// the bytes, without decoding the whole line and splitting it into words
// (twice per command before: ~0.8% of the main thread in bench/'s profile).
// The answers are those of the string expressions they replaced on the
// line's latin1 text (test/smtp/command-line.test.ts compares them on seeded
// input): `text.trim().split(/\s+/)` and `/^DATA(\s|$)/i`.

/** The bytes that are JavaScript whitespace (\s, trim()) in latin1 text: TAB, LF, VT, FF, CR, SP, NBSP. */
function isSpace(byte: number): boolean {
  return (byte >= 0x09 && byte <= 0x0d) || byte === 0x20 || byte === 0xa0;
}

export interface CommandVerb {
  /** The first word, upper-cased ('' for an empty or blank line). */
  readonly name: string;
  /** Another word follows the first. */
  readonly hasArgument: boolean;
}

/** The first word of a command line (latin1, upper-cased) and whether another follows it. */
export function commandVerb(command: Buffer): CommandVerb {
  const end = command.length;
  let start = 0;
  while (start < end && isSpace(command[start] as number)) start++;
  let stop = start;
  while (stop < end && !isSpace(command[stop] as number)) stop++;
  let next = stop;
  while (next < end && isSpace(command[next] as number)) next++;
  return { name: command.toString('latin1', start, stop).toUpperCase(), hasArgument: next < end };
}

/** The line is DATA (any case), alone or followed by whitespace. */
export function isDataCommand(command: Buffer): boolean {
  if (command.length < 4) return false;
  // ASCII letters only: | 0x20 folds upper case onto lower case.
  if (((command[0] as number) | 0x20) !== 0x64 || ((command[1] as number) | 0x20) !== 0x61) return false;
  if (((command[2] as number) | 0x20) !== 0x74 || ((command[3] as number) | 0x20) !== 0x61) return false;
  return command.length === 4 || isSpace(command[4] as number);
}

// `relayguard passwd [USER] [--sender PATTERN]... [--params ln=15,r=8,p=1] [--min-length N]`
// Reads a password and prints what to paste into policies/users.toml: with
// USER a whole [[users]] block, without it the `hash = "..."` line alone.
// On a terminal the password is read twice without echo (raw mode, so it never
// appears on screen or in scrollback); from a pipe the first line is the
// password (exactly as written, only the line ending removed), e.g.
//   printf '%s\n' "$PW" | relayguard passwd alice@example.com
// A password shorter than --min-length (default 12 characters) is refused
// with the reason: SMTP AUTH is open to password guessing from anywhere.
// Prompts and messages go to stderr so stdout is only the TOML.
import type { CliIo } from './io.ts';
import { EXIT_OK, EXIT_USAGE, EXIT_USER_ERROR } from './io.ts';
import { DEFAULT_SCRYPT_PARAMS, hashPassword, parseScryptParams, type ScryptParams } from '../auth/password-hash.ts';
import { parseSenderPattern } from '../config/sender-patterns.ts';
import { commandHelp } from './help.ts';

const USAGE = commandHelp('passwd');

/** The fewest characters (code points) a password may have unless --min-length says otherwise. */
export const DEFAULT_MIN_PASSWORD_LENGTH = 12;
const MAX_MIN_PASSWORD_LENGTH = 1024;

interface PasswdArgs {
  user?: string;
  senders: string[];
  params: ScryptParams;
  minLength: number;
}

function parseArgs(argv: readonly string[]): PasswdArgs | string {
  const args: PasswdArgs = { senders: [], params: DEFAULT_SCRYPT_PARAMS, minLength: DEFAULT_MIN_PASSWORD_LENGTH };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--sender' || arg === '--params' || arg === '--min-length') {
      const value = argv[++i];
      if (value === undefined) return `${arg} needs a value`;
      if (arg === '--sender') args.senders.push(value);
      else if (arg === '--min-length') {
        const n = Number(value);
        if (!/^\d+$/.test(value) || n < 1 || n > MAX_MIN_PASSWORD_LENGTH) return `--min-length must be a whole number from 1 to ${MAX_MIN_PASSWORD_LENGTH}, not "${value}"`;
        args.minLength = n;
      } else {
        const params = parseScryptParams(value);
        if (typeof params === 'string') return params;
        args.params = params;
      }
    } else if (arg.startsWith('-')) {
      return `unknown option ${arg}`;
    } else if (args.user === undefined) {
      args.user = arg;
    } else {
      return 'only one USER';
    }
  }
  return args;
}

export async function runPasswd(argv: string[], io: CliIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(USAGE);
    return EXIT_OK;
  }
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    io.stderr.write(`relayguard passwd: ${args}\n${USAGE}`);
    return EXIT_USAGE;
  }
  const { user } = args;
  if (user !== undefined && !/^[^\s\p{Cc}]{1,256}$/u.test(user)) {
    io.stderr.write('relayguard passwd: USER must not contain spaces or control characters\n');
    return EXIT_USER_ERROR;
  }
  let senders = args.senders;
  if (user !== undefined && senders.length === 0) {
    const own = parseSenderPattern(user);
    if (typeof own !== 'string' && own.kind === 'address') senders = [user];
  }
  for (const sender of senders) {
    const pattern = parseSenderPattern(sender);
    if (typeof pattern === 'string') {
      io.stderr.write(`relayguard passwd: ${pattern}\n`);
      return EXIT_USER_ERROR;
    }
  }

  const password = await readPassword(io, args.minLength);
  if (typeof password !== 'string') {
    io.stderr.write(`relayguard passwd: ${password.problem}\n`);
    return EXIT_USER_ERROR;
  }
  const hash = await hashPassword(password, args.params);
  if (user === undefined) {
    io.stdout.write(`hash = ${tomlString(hash)}\n`);
    return EXIT_OK;
  }
  io.stdout.write(
    [
      '[[users]]',
      `name = ${tomlString(user)}`,
      `hash = ${tomlString(hash)}`,
      `senders = [${senders.map(tomlString).join(', ')}]`,
      '',
    ].join('\n'),
  );
  if (senders.length === 0) {
    io.stderr.write(`relayguard passwd: fill in senders: the addresses ${user} may send as (\`relayguard check\` insists)\n`);
  }
  return EXIT_OK;
}

// A JSON string is a valid TOML basic string for everything we print here
// (no control characters reach this point).
function tomlString(value: string): string {
  return JSON.stringify(value);
}

/** Why `password` is too short, or undefined. Characters are code points, as a person counts them. */
function tooShort(password: string, minLength: number): { problem: string } | undefined {
  const length = [...password].length;
  if (length >= minLength) return undefined;
  return {
    problem:
      `password too short: ${length} character${length === 1 ? '' : 's'}, at least ${minLength} needed ` +
      '(SMTP AUTH can be tried by anyone who reaches the port, so length is the defence; --min-length N changes the minimum)',
  };
}

async function readPassword(io: CliIo, minLength: number): Promise<string | { problem: string }> {
  const stdin = io.stdin;
  const terminal = stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  const reader = new LineReader(stdin, terminal);
  try {
    if (!terminal) {
      const line = await reader.next();
      if (line === null || line === '') return { problem: 'no password on standard input' };
      return tooShort(line, minLength) ?? line;
    }
    stdin.setRawMode?.(true);
    io.stderr.write('Password: ');
    const first = await reader.next();
    io.stderr.write('\n');
    if (first === null) return { problem: 'aborted' };
    if (first === '') return { problem: 'empty password' };
    // Said before the retype: no point typing a refused password twice.
    const short = tooShort(first, minLength);
    if (short) return short;
    io.stderr.write('Retype password: ');
    const second = await reader.next();
    io.stderr.write('\n');
    if (second === null) return { problem: 'aborted' };
    if (second !== first) return { problem: 'passwords do not match' };
    return first;
  } finally {
    if (terminal) stdin.setRawMode?.(false);
    reader.close();
  }
}

/**
 * Lines from a stream. In raw (terminal) mode it edits like a cooked terminal
 * would: Enter ends the line, Backspace deletes, Ctrl-C or Ctrl-D aborts (null).
 */
class LineReader {
  #buffer = '';
  #ended = false;
  #wake: (() => void) | undefined;
  readonly #stream: CliIo['stdin'];
  readonly #raw: boolean;
  readonly #onData = (chunk: Buffer | string): void => {
    this.#buffer += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    this.#notify();
  };
  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#notify();
  };

  constructor(stream: CliIo['stdin'], raw: boolean) {
    this.#stream = stream;
    this.#raw = raw;
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    stream.on('error', this.#onEnd);
    stream.resume();
  }

  async next(): Promise<string | null> {
    while (true) {
      const line = this.#raw ? this.#takeRaw() : this.#takeCooked();
      if (line !== undefined) return line;
      if (this.#ended) {
        if (this.#raw || this.#buffer === '') return null;
        const rest = this.#buffer;
        this.#buffer = '';
        return rest;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #takeCooked(): string | undefined {
    const newline = this.#buffer.indexOf('\n');
    if (newline === -1) return undefined;
    const line = this.#buffer.slice(0, newline).replace(/\r$/, '');
    this.#buffer = this.#buffer.slice(newline + 1);
    return line;
  }

  // Returns the line, null when aborted, undefined when Enter has not come yet.
  #takeRaw(): string | null | undefined {
    let typed = '';
    for (let i = 0; i < this.#buffer.length; i++) {
      const char = this.#buffer[i] as string;
      if (char === '\r' || char === '\n') {
        this.#buffer = this.#buffer.slice(i + 1);
        return typed;
      }
      if (char === '\u0003' || char === '\u0004') {
        this.#buffer = '';
        return null;
      }
      if (char === '\u007f' || char === '\b') typed = [...typed].slice(0, -1).join('');
      else if (char >= ' ') typed += char;
    }
    return undefined; // keep the buffer: the line is re-read when more arrives
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  close(): void {
    this.#stream.off('data', this.#onData);
    this.#stream.off('end', this.#onEnd);
    this.#stream.off('error', this.#onEnd);
    this.#stream.pause();
  }
}

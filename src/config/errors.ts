// Operational errors of configuration and policy files. Every problem names
// the file and line an administrator has to open.

export interface FileProblem {
  readonly file: string;
  /** 1-based; 0 when the problem concerns the whole file (missing, unreadable). */
  readonly line: number;
  readonly message: string;
  /** The same problem in an administrator's words, when `message` is a schema library's (src/config/admin-wording.ts). */
  readonly admin?: string;
}

export function formatProblem(problem: FileProblem): string {
  return problem.line > 0
    ? `${problem.file}:${problem.line}: ${problem.message}`
    : `${problem.file}: ${problem.message}`;
}

/** `file:line: problem` in an administrator's words (what `relayguard check` prints). */
export function adminProblem(problem: FileProblem): string {
  return formatProblem({ file: problem.file, line: problem.line, message: problem.admin ?? problem.message });
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly temporary = false;
  readonly problems: readonly FileProblem[];

  constructor(problems: readonly FileProblem[], options?: { cause?: unknown }) {
    super(problems.map(formatProblem).join('\n'), options);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** The result of parsing one policy or config file: a value, or every problem found. */
export type ParseResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly problems: readonly FileProblem[] };

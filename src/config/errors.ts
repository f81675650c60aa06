// Operational errors of configuration and policy files. Every problem names
// the file and line an administrator has to open.

export interface FileProblem {
  readonly file: string;
  /** 1-based; 0 when the problem concerns the whole file (missing, unreadable). */
  readonly line: number;
  readonly message: string;
}

export function formatProblem(problem: FileProblem): string {
  return problem.line > 0
    ? `${problem.file}:${problem.line}: ${problem.message}`
    : `${problem.file}: ${problem.message}`;
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

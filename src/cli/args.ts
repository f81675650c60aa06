// Shared argument handling for CLI commands: node:util parseArgs with our
// exit-code convention (2 = usage).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { existsSync } from 'node:fs';

export class UsageError extends Error {
  readonly code = 'USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** --config, else ./config.toml, else an explanation. */
export function resolveConfigFile(explicit: string | undefined): string {
  if (explicit) return explicit;
  if (existsSync('config.toml')) return 'config.toml';
  throw new UsageError('no --config given and no ./config.toml here (start from config.example.toml)');
}

// The config.toml of a command that works on a relay's data (queue,
// accounts): --config FILE, else ./config.toml, which must then exist (a
// command run in the wrong directory says so instead of reading defaults).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config/load-config.ts';
import { ConfigError } from '../config/errors.ts';
import type { Config } from '../config/schema.ts';
import type { CliIo } from './io.ts';

/** The loaded config, or undefined after writing why to stderr (the command exits 1). */
export async function loadCommandConfig(configOption: string | undefined, io: CliIo, usage: string): Promise<Config | undefined> {
  const configFile = configOption ?? 'config.toml';
  if (configOption === undefined && !existsSync(path.resolve(configFile))) {
    io.stderr.write(`no config.toml in ${process.cwd()}; pass --config FILE\n${usage}\n`);
    return undefined;
  }
  try {
    return await loadConfig(configFile);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr.write(`${error.message}\n`);
      return undefined;
    }
    throw error;
  }
}

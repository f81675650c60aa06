// Builds a real Config for tests from TOML text: listeners on port 0, a temp
// data directory, policies written to a temp policies directory.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { validateConfigText } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/schema.ts';

export interface TestConfigDir {
  readonly dir: string;
  readonly configFile: string;
  readonly config: Config;
  /** Writes (or replaces) a file under policies/. */
  writePolicy(name: string, text: string): Promise<void>;
  cleanup(): Promise<void>;
}

export const DEFAULT_LISTENERS = `
[[listeners]]
name = "mx"
address = "127.0.0.1:0"
role = "mx"
tls = "starttls"

[[listeners]]
name = "submission"
address = "127.0.0.1:0"
role = "submission"
tls = "starttls"

[[listeners]]
name = "submissions"
address = "127.0.0.1:0"
role = "submission"
tls = "implicit"
`;

/** `body` is appended after hostname/data_dir; pass listeners too, or use DEFAULT_LISTENERS. */
export async function makeTestConfig(body: string, policies: Record<string, string> = {}): Promise<TestConfigDir> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-test-'));
  await mkdir(path.join(dir, 'policies'));
  await mkdir(path.join(dir, 'data'));
  for (const [name, text] of Object.entries(policies)) await writeFile(path.join(dir, 'policies', name), text);
  const logLevel = /^log_level\s*=/m.test(body) ? '' : 'log_level = "warn"\n';
  const text = `hostname = "relay.test"\ndata_dir = "./data"\npolicies_dir = "./policies"\n${logLevel}${body}`;
  const configFile = path.join(dir, 'config.toml');
  await writeFile(configFile, text);
  const result = validateConfigText(configFile, text);
  if (!result.ok) throw new Error(result.problems.map((p) => `${p.file}:${p.line}: ${p.message}`).join('\n'));
  return {
    dir,
    configFile,
    config: result.value,
    writePolicy: (name, content) => writeFile(path.join(dir, 'policies', name), content),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

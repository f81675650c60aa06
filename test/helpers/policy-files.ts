// A temporary relay configuration on disk: config.toml plus a policies/
// directory, for tests of loading, reloading, watching and `check`.
import { mkdtemp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const MINIMAL_CONFIG = [
  'hostname = "relay.example.test"',
  'policies_dir = "./policies"',
  '[[listeners]]',
  'address = "127.0.0.1:0"',
  'role = "mx"',
  '',
].join('\n');

export interface PolicyFixture {
  readonly dir: string;
  readonly configFile: string;
  readonly policiesDir: string;
  /** Writes a policy file in place. */
  write(name: string, text: string): Promise<void>;
  /** Writes a temporary file and renames it over `name`, as editors and deploy tools do. */
  replace(name: string, text: string): Promise<void>;
  writeConfig(text: string): Promise<void>;
  remove(name: string): Promise<void>;
  cleanup(): Promise<void>;
}

export async function createPolicyFixture(files: Readonly<Record<string, string>> = {}, config = MINIMAL_CONFIG): Promise<PolicyFixture> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-policy-'));
  const policiesDir = path.join(dir, 'policies');
  await mkdir(policiesDir);
  const configFile = path.join(dir, 'config.toml');
  await writeFile(configFile, config);
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(policiesDir, name), text);
  let temp = 0;
  return {
    dir,
    configFile,
    policiesDir,
    write: (name, text) => writeFile(path.join(policiesDir, name), text),
    async replace(name, text) {
      const tempFile = path.join(policiesDir, `.${name}.${++temp}.tmp`);
      await writeFile(tempFile, text);
      await rename(tempFile, path.join(policiesDir, name));
    },
    writeConfig: (text) => writeFile(configFile, text),
    remove: (name) => rm(path.join(policiesDir, name), { force: true }),
    cleanup: () => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }),
  };
}

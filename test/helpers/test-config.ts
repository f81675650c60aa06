// Builds a real Config for tests from TOML text: listeners on port 0, a temp
// data directory, policies written to a temp policies directory. The data
// directory starts with the self-signed TLS pair a first start would generate
// (data/tls, as tls-material.ts writes it): generating a 2048-bit RSA key
// costs a few hundred ms of CPU, and a test process makes it once, not once
// per relay it starts.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { validateConfigText } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/schema.ts';
import { generateSelfSignedPair } from '../../src/smtp/self-signed-pair.ts';

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

let selfSignedPair: Promise<{ key: string; cert: string }> | undefined;

/** Writes the process's one self-signed pair for relay.test where a relay with data_dir `dataDir` looks first. */
async function seedSelfSignedPair(dataDir: string): Promise<void> {
  const pair = await (selfSignedPair ??= generateSelfSignedPair('relay.test'));
  const tls = path.join(dataDir, 'tls');
  await mkdir(tls, { mode: 0o700 });
  await writeFile(path.join(tls, 'self-signed-key.pem'), pair.key, { mode: 0o600 });
  await writeFile(path.join(tls, 'self-signed-cert.pem'), pair.cert);
}

/**
 * `body` is appended after hostname/data_dir; pass listeners too, or use DEFAULT_LISTENERS.
 * `generateTls`: leave data/tls empty, so the relay generates its pair at start as a first start does.
 */
export async function makeTestConfig(body: string, policies: Record<string, string> = {}, options: { generateTls?: boolean } = {}): Promise<TestConfigDir> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-test-'));
  await mkdir(path.join(dir, 'policies'));
  await mkdir(path.join(dir, 'data'));
  if (!options.generateTls) await seedSelfSignedPair(path.join(dir, 'data'));
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
    cleanup: () => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }),
  };
}

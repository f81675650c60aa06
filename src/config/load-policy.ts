// Reads config.toml and every registered policy file, parses and validates
// them all, and either returns the parts of a snapshot or EVERY problem found
// (a broken config.toml does not hide the problems of the policy files).
// `relayguard check` and a reload both call loadPolicy, so they agree.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { validateConfigText } from './load-config.ts';
import { caFileProblems } from './delivery-tls.ts';
import { formatProblem, type FileProblem } from './errors.ts';
import type { Config } from './schema.ts';
import type { PolicySnapshot } from './snapshot.ts';
import { normaliseDomain, type DomainSet } from '../net/domain-set.ts';
import { locateTomlPath } from './toml-locate.ts';
import { POLICY_FILES, type PolicyFileKind, type PolicyFileRegistry, type PolicyParts } from './policy-files.ts';

export interface FileSummary {
  readonly fileName: string;
  /** Absolute path. */
  readonly file: string;
  /** false when the file does not exist (its kind's empty value is used). */
  readonly present: boolean;
  readonly count: number;
  readonly noun: string;
}

export type PolicyLoad =
  | { readonly ok: true; readonly config: Config; readonly parts: PolicyParts; readonly files: readonly FileSummary[] }
  | { readonly ok: false; readonly problems: readonly FileProblem[] };

/** The file system as loadPolicy sees it; tests wrap it to observe reads. */
export interface PolicyReader {
  readFile(file: string): Promise<string>;
}

export const fileSystemReader: PolicyReader = { readFile: (file) => readFile(file, 'utf8') };

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/** Where policies_dir points even when config.toml is invalid, so its files are checked too. */
function guessPoliciesDir(configFile: string, text: string): string {
  let dir = './policies';
  try {
    const raw = parseToml(text.replace(/^\uFEFF/, '')) as { policies_dir?: unknown };
    if (typeof raw.policies_dir === 'string') dir = raw.policies_dir;
  } catch {
    // syntax error already reported by validateConfigText; use the default
  }
  return path.resolve(path.dirname(path.resolve(configFile)), dir);
}

type KindResult = { readonly value: unknown; readonly summary: FileSummary } | { readonly problems: readonly FileProblem[] };

async function loadKind(dir: string, kind: PolicyFileKind<unknown>, reader: PolicyReader): Promise<KindResult> {
  const file = path.join(dir, kind.fileName);
  let text: string;
  try {
    text = await reader.readFile(file);
  } catch (error) {
    if (isMissing(error)) {
      const value = kind.empty();
      return { value, summary: { fileName: kind.fileName, file, present: false, count: kind.count(value), noun: kind.noun } };
    }
    return { problems: [{ file, line: 0, message: `cannot read: ${(error as Error).message}` }] };
  }
  const parsed = kind.parse(file, text);
  if (!parsed.ok) return { problems: parsed.problems };
  return { value: parsed.value, summary: { fileName: kind.fileName, file, present: true, count: kind.count(parsed.value), noun: kind.noun } };
}

/**
 * What a load read (config.toml, the policy files, CA files), so that another
 * thread can load the very same policy without reading the disk again, where
 * an edit may have landed since (journal/replay-pool.ts replays in workers).
 */
export interface PolicySources {
  readonly configFile: string;
  readonly policiesDir?: string;
  /** [absolute or as-given path, its text or null when it did not exist], in read order. */
  readonly files: ReadonlyArray<readonly [string, string | null]>;
}

const loadSources = new WeakMap<object, PolicySources>();
const snapshotSources = new WeakMap<PolicySnapshot, PolicySources>();

/** What the snapshot was loaded from (undefined when it was not loaded from the default policy files). */
export function policySources(snapshot: PolicySnapshot): PolicySources | undefined {
  return snapshotSources.get(snapshot);
}

/** Loads exactly what `sources` recorded (nothing is read from the disk but the policies_dir check). */
export function loadPolicySources(sources: PolicySources): Promise<PolicyLoad> {
  const texts = new Map(sources.files);
  const reader: PolicyReader = {
    readFile: async (file) => {
      const text = texts.get(file);
      if (text === null) throw Object.assign(new Error(`ENOENT: ${file} did not exist when the policy was loaded`), { code: 'ENOENT' });
      if (text === undefined) throw new Error(`${file} was not read when the policy was loaded`);
      return text;
    },
  };
  return loadPolicy(sources.configFile, { reader, ...(sources.policiesDir !== undefined ? { policiesDir: sources.policiesDir } : {}) });
}

export async function loadPolicy(
  configFile: string,
  options: {
    readonly registry?: PolicyFileRegistry;
    readonly reader?: PolicyReader;
    /** Read the policy files from here instead of config.toml's policies_dir (`relayguard replay --policies DIR`). */
    readonly policiesDir?: string;
  } = {},
): Promise<PolicyLoad> {
  const registry = options.registry ?? POLICY_FILES;
  const read: Array<[string, string | null]> = [];
  const base = options.reader ?? fileSystemReader;
  const reader: PolicyReader = {
    readFile: async (file) => {
      try {
        const text = await base.readFile(file);
        read.push([file, text]);
        return text;
      } catch (error) {
        if (isMissing(error)) read.push([file, null]);
        throw error;
      }
    },
  };
  let text: string;
  try {
    text = await reader.readFile(configFile);
  } catch (error) {
    return { ok: false, problems: [{ file: configFile, line: 0, message: `cannot read: ${(error as Error).message}` }] };
  }
  const problems: FileProblem[] = [];
  const config = validateConfigText(configFile, text);
  if (!config.ok) problems.push(...config.problems);
  else problems.push(...(await caFileProblems(configFile, text, config.value, (file) => reader.readFile(file))));
  const dir = options.policiesDir !== undefined ? path.resolve(options.policiesDir) : config.ok ? config.value.policiesDir : guessPoliciesDir(configFile, text);

  const isDirectory = await stat(dir).then((s) => s.isDirectory(), () => false);
  if (!isDirectory) {
    problems.push({ file: configFile, line: 0, message: `policies_dir ${dir} is not a directory (its files are optional, the directory is not)` });
    return { ok: false, problems };
  }

  const keys = Object.keys(registry) as Array<keyof PolicyParts>;
  const results = await Promise.all(keys.map((key) => loadKind(dir, registry[key] as PolicyFileKind<unknown>, reader)));
  const parts: Record<string, unknown> = {};
  const summaries: FileSummary[] = [];
  results.forEach((result, index) => {
    if ('problems' in result) {
      problems.push(...result.problems);
    } else {
      parts[keys[index] as string] = result.value;
      summaries.push(result.summary);
    }
  });
  if (config.ok && parts.localDomains) problems.push(...verifiedDomainProblems(configFile, text, config.value, parts.localDomains as DomainSet));
  if (problems.length > 0 || !config.ok) return { ok: false, problems };
  const loaded = options.policiesDir !== undefined ? { ...config.value, policiesDir: dir } : config.value;
  const result: PolicyLoad = { ok: true, config: loaded, parts: parts as unknown as PolicyParts, files: summaries };
  // Another registry (tests) could not be loaded again from the default one: no sources then.
  if (registry === POLICY_FILES) loadSources.set(result, { configFile, ...(options.policiesDir !== undefined ? { policiesDir: dir } : {}), files: read });
  return result;
}

/** Freezes a successful load into the snapshot connections evaluate against. */
export function createSnapshot(load: Extract<PolicyLoad, { ok: true }>, generation: number, loadedAt: Date): PolicySnapshot {
  const snapshot: PolicySnapshot = Object.freeze({ generation, loadedAt, config: load.config, ...load.parts });
  const sources = loadSources.get(load);
  if (sources) snapshotSources.set(snapshot, sources);
  return snapshot;
}

/** "relay-networks 2 networks, allowlist 1 network, users.toml absent, ..." */
export function formatSummary(files: readonly FileSummary[]): string {
  const counted = (f: FileSummary): string => `${f.fileName} ${f.count} ${f.count === 1 ? f.noun.replace(/s$/, '') : f.noun}`;
  return files.map((f) => (f.present ? counted(f) : `${f.fileName} absent`)).join(', ');
}

export function formatProblems(problems: readonly FileProblem[]): string[] {
  return problems.map(formatProblem);
}

/** recipient_verification.domains must name local domains (anything else would never be verified). */
function verifiedDomainProblems(file: string, text: string, config: Config, localDomains: DomainSet): FileProblem[] {
  const problems: FileProblem[] = [];
  config.recipient_verification.domains.forEach((name, index) => {
    const normalised = normaliseDomain(name);
    const line = locateTomlPath(text, ['recipient_verification', 'domains', index]);
    if (!normalised.ok) problems.push({ file, line, message: `recipient_verification.domains: ${normalised.message}` });
    else if (!localDomains.has(normalised.domain)) {
      problems.push({ file, line, message: `recipient_verification.domains: ${name} is not in policies/local-domains (only local domains are verified)` });
    }
  });
  return problems;
}

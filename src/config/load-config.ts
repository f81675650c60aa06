// Reads and validates config.toml. Returns a Config or throws a ConfigError
// whose problems name file:line, so `check` and `serve` print the same thing.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import ipaddr from 'ipaddr.js';
import { configSchema, type Config } from './schema.ts';
import { ConfigError, type FileProblem, type ParseResult } from './errors.ts';
import { locateTomlPath } from './toml-locate.ts';
import { adminWording, type IssueLike } from './admin-wording.ts';

/** Parses TOML text and validates it against a zod schema; problems carry lines. */
export function parseTomlWith<T>(
  file: string,
  text: string,
  schema: { safeParse(input: unknown): { success: true; data: T } | { success: false; error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> } } },
): ParseResult<T> {
  let document: unknown;
  try {
    document = parseToml(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    if (error instanceof TomlError) {
      const message = error.message.split('\n')[0]?.replace(/^Invalid TOML document: /, '') ?? 'invalid TOML';
      return { ok: false, problems: [{ file, line: error.line, message: `TOML syntax: ${message}` }] };
    }
    throw error;
  }
  const result = schema.safeParse(document);
  if (result.success) return { ok: true, value: result.data };
  const problems: FileProblem[] = result.error.issues.map((issue) => {
    const where = issue.path.map((p) => (typeof p === 'number' ? p : String(p)));
    const key = where.filter((p) => typeof p === 'string').join('.');
    // An unknown top-level key or table has an empty path: point at the key itself, not line 0.
    const unknown = (issue as { keys?: readonly string[] }).keys?.[0];
    return {
      file,
      line: locateTomlPath(text, where.length === 0 && unknown !== undefined ? [unknown] : where),
      message: key ? `${key}: ${issue.message}` : issue.message,
      admin: adminWording(issue as IssueLike),
    };
  });
  return { ok: false, problems };
}

export function validateConfigText(file: string, text: string): ParseResult<Config> {
  const parsed = parseTomlWith(file, text, configSchema);
  if (!parsed.ok) return parsed;
  const raw = parsed.value;
  const base = path.dirname(path.resolve(file));
  const problems: FileProblem[] = [];
  const http = raw.http;
  if (http.enabled && !http.token && !isLoopbackHost(http.address.host)) {
    problems.push({
      file,
      line: locateTomlPath(text, ['http', 'address']),
      message: 'http.address: a dashboard on a non-loopback address needs http.token',
    });
  }
  const seen = new Set<string>();
  raw.listeners.forEach((listener, index) => {
    const key = `${listener.address.host}:${listener.address.port}`;
    if (seen.has(key) && listener.address.port !== 0) {
      problems.push({ file, line: locateTomlPath(text, ['listeners', index, 'address']), message: `listeners: ${key} is used twice` });
    }
    seen.add(key);
  });
  if (problems.length > 0) return { ok: false, problems };
  // CA files are named relative to config.toml, like tls.cert; delivery reads them by absolute path.
  const caPath = <T extends { tls_ca_file?: string | undefined }>(t: T): T =>
    t.tls_ca_file === undefined ? t : { ...t, tls_ca_file: path.resolve(base, t.tls_ca_file) };
  const delivery = { ...caPath(raw.delivery), smarthost: raw.delivery.smarthost && caPath(raw.delivery.smarthost), routes: raw.delivery.routes.map(caPath) };
  return {
    ok: true,
    value: {
      ...raw,
      delivery,
      configFile: path.resolve(file),
      dataDir: path.resolve(base, raw.data_dir),
      policiesDir: path.resolve(base, raw.policies_dir),
    },
  };
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  try {
    const addr = ipaddr.process(host);
    return addr.range() === 'loopback';
  } catch {
    return false;
  }
}

export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError([{ file, line: 0, message: `cannot read: ${(error as Error).message}` }], { cause: error });
  }
  const result = validateConfigText(file, text);
  if (!result.ok) throw new ConfigError(result.problems);
  return result.value;
}

// What config.toml says about TLS to the next hop, checked beyond its schema:
// every CA file named for level "verify" must be readable and hold PEM
// certificates (a problem with file:line, so `check` fails and a reload is
// refused, rather than mail waiting later), and the deprecated level name
// "required" earns a warning (it still means "encrypt").
import { X509Certificate } from 'node:crypto';
import { parse as parseToml } from 'smol-toml';
import type { FileProblem } from './errors.ts';
import type { Config } from './schema.ts';
import { locateTomlPath } from './toml-locate.ts';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** PURE. The certificates of a PEM text, or why it is not a CA file. */
export function parseCaPem(text: string): { readonly pem: string; readonly count: number } | { readonly error: string } {
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return { error: 'no PEM certificate (-----BEGIN CERTIFICATE-----) in it' };
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (error) {
      return { error: `certificate ${index + 1} cannot be parsed: ${(error as Error).message}` };
    }
  }
  return { pem: blocks.join('\n'), count: blocks.length };
}

type PathPart = string | number;

/** Every tls_ca_file of the config (absolute paths), with where it is written. */
function caFiles(config: Config): Array<{ readonly file: string; readonly at: PathPart[] }> {
  const d = config.delivery;
  const found: Array<{ file: string; at: PathPart[] }> = [];
  if (d.tls_ca_file !== undefined) found.push({ file: d.tls_ca_file, at: ['delivery', 'tls_ca_file'] });
  if (d.smarthost?.tls_ca_file !== undefined) found.push({ file: d.smarthost.tls_ca_file, at: ['delivery', 'smarthost', 'tls_ca_file'] });
  d.routes.forEach((route, index) => {
    if (route.tls_ca_file !== undefined) found.push({ file: route.tls_ca_file, at: ['delivery', 'routes', index, 'tls_ca_file'] });
  });
  return found;
}

/** A problem per CA file that cannot be read or holds no usable certificate. */
export async function caFileProblems(
  configFile: string,
  text: string,
  config: Config,
  readFile: (file: string) => Promise<string>,
): Promise<FileProblem[]> {
  const problems: FileProblem[] = [];
  for (const { file, at } of caFiles(config)) {
    const key = at.filter((p) => typeof p === 'string').join('.');
    let pem: string;
    try {
      pem = await readFile(file);
    } catch (error) {
      problems.push({ file: configFile, line: locateTomlPath(text, at), message: `${key}: cannot read ${file}: ${(error as Error).message}` });
      continue;
    }
    const parsed = parseCaPem(pem);
    if ('error' in parsed) problems.push({ file: configFile, line: locateTomlPath(text, at), message: `${key}: ${file}: ${parsed.error}` });
  }
  return problems;
}

/** PURE. `file:line: warning: ...` for each TLS level written as "required" (the old name of "encrypt"). */
export function deprecatedTlsWarnings(configFile: string, text: string): string[] {
  let doc: unknown;
  try {
    doc = parseToml(text.replace(/^\uFEFF/, ''));
  } catch {
    return []; // the syntax error is reported as a problem elsewhere
  }
  const delivery = (doc as { delivery?: unknown }).delivery as
    | { tls?: unknown; smarthost?: { tls?: unknown }; routes?: Array<{ tls?: unknown }> }
    | undefined;
  if (!delivery || typeof delivery !== 'object') return [];
  const places: PathPart[][] = [];
  if (delivery.tls === 'required') places.push(['delivery', 'tls']);
  if (delivery.smarthost?.tls === 'required') places.push(['delivery', 'smarthost', 'tls']);
  if (Array.isArray(delivery.routes)) {
    delivery.routes.forEach((route, index) => {
      if (route?.tls === 'required') places.push(['delivery', 'routes', index, 'tls']);
    });
  }
  return places.map((at) => {
    const key = at.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.').replace(/\.\[/g, '[');
    return `${configFile}:${locateTomlPath(text, at)}: warning: ${key} = "required" is the old name of "encrypt" (TLS, certificate not verified); write "encrypt", or "verify" to check the certificate`;
  });
}

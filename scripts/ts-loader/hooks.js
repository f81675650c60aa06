// Module hooks (node:module register) that run the TypeScript sources without
// tsx: `npm test` transpiles every .ts file of src/ and test/ once, in one
// esbuild call (scripts/test.js), and each test process reads the result from
// that directory instead of loading tsx and asking its cache. The files keep
// their names and places: a module's import.meta.url is still its .ts file
// under src/ or test/, so fixture paths, the folder-graph test's reading of
// src/ and runningFromSources() see exactly what they see under tsx.
//
// A .ts file that is not in the directory (written after the transpile, or a
// run without one) is transpiled here with esbuild's transformSync, the same
// options. Type-only constructs are all esbuild removes: tsconfig.json has
// isolatedModules and verbatimModuleSyntax, so per-file transpilation is what
// `tsc --noEmit` already checks is enough.
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, TRANSFORM_OPTIONS, transpiledPath } from './options.js';

let outdir;
let since = 0;

/** data: { outdir, startedMs } from register.js, or {} (transpile on demand). */
export function initialize(data) {
  outdir = data?.outdir;
  since = data?.startedMs ?? 0;
}

let esbuild;
function transformNow(file) {
  esbuild ??= createRequire(import.meta.url)('esbuild');
  return esbuild.transformSync(readFileSync(file, 'utf8'), { ...TRANSFORM_OPTIONS, sourcefile: file }).code;
}

function transpiled(file) {
  if (outdir && file.startsWith(ROOT + path.sep)) {
    try {
      // Edited after the transpile started: the directory has an older copy.
      if (statSync(file).mtimeMs < since) return readFileSync(transpiledPath(outdir, file), 'utf8');
    } catch (error) {
      if (error?.code !== 'ENOENT') throw error;
    }
  }
  return transformNow(file);
}

export async function load(url, context, nextLoad) {
  if (url.startsWith('file:') && /\.[cm]?ts$/.test(url)) {
    const file = fileURLToPath(url);
    return { format: file.endsWith('.cts') ? 'commonjs' : 'module', source: transpiled(file), shortCircuit: true };
  }
  return nextLoad(url, context);
}

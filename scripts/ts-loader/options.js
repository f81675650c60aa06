// What scripts/test.js and the hooks share: the esbuild options of one file's
// transpilation (those of tsx: ESM for the running Node, inline source maps)
// and where a source's transpiled copy goes.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const TRANSFORM_OPTIONS = {
  loader: 'ts',
  format: 'esm',
  platform: 'node',
  target: `node${process.versions.node.split('.')[0]}`,
  sourcemap: 'inline',
  tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true, useDefineForClassFields: true } },
};

/** outdir/<path under ROOT>.js */
export function transpiledPath(outdir, file) {
  return path.join(outdir, `${path.relative(ROOT, file)}.js`);
}

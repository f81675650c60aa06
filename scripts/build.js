// `npm run build`: the production build in dist/, which bin/relayguard.js runs
// instead of the TypeScript sources when it is a build of exactly those sources
// (scripts/build-stamp.js). Why: the sources run through tsx's loader, which
// costs ~45 MiB of RSS (a second V8 isolate that transpiles, plus one module
// record per file); the bundle is what production runs (BENCHMARKS.md, memory).
//
// esbuild, ESM for Node 20, every dependency bundled (dist/ needs no
// node_modules), code split at dynamic imports so what a command or a config
// does not use is never loaded (check, explain, queue, passwd; ioredis without
// [cluster]). Every output file sits directly in dist/, so code that finds a
// file next to itself with `new URL('./x', import.meta.url)` finds it in dist/
// whichever chunk it ended up in: `../package.json` is the package's, and
// `./assets/` is the copy below. Whitespace and syntax are minified (the
// source text of every loaded chunk stays in V8's heap: ~5 MiB less), names
// are kept (stack traces and CPU profiles read as in the sources), and each
// chunk has a source map (`node --enable-source-maps` for traces into src/).
//
// The build goes to dist.tmp-PID and is renamed into place, and the stamp is
// its last file: an interrupted or failed build never leaves a dist/ that
// bin/ would run. A relay already running keeps the code it loaded (it loads
// nothing from dist/ after start-up).
//
//   node scripts/build.js [--outdir DIR]
import { cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import { STAMP_FILE, sourceFingerprint } from './build-stamp.js';

/**
 * Every file a process or thread starts from, relative to the package root;
 * each becomes dist/<its name>.js (names must differ). A worker_threads entry
 * is one more line here, started with `new Worker(workerEntryUrl('x/y.ts'))`
 * (src/delivery/worker-entry.ts) so it runs from the sources and from dist/.
 */
export const ENTRY_POINTS = ['src/cli/main.ts', 'src/delivery/delivery-worker.ts', 'src/journal/replay-worker.ts'];

/** Folders copied as they are: [from (package root), to (in dist/)]. src/http/page.ts reads ./assets/. */
export const COPIED = [['src/http/assets', 'assets']];

/** Defined in every chunk: CommonJS dependencies call require() for Node's modules and some read __dirname. */
const BANNER = [
  "import { createRequire as __relayguardCreateRequire } from 'node:module';",
  "import { fileURLToPath as __relayguardFileURLToPath } from 'node:url';",
  'const require = __relayguardCreateRequire(import.meta.url);',
  'const __filename = __relayguardFileURLToPath(import.meta.url);',
  "const __dirname = __relayguardFileURLToPath(new URL('.', import.meta.url));",
].join(' ');

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function outName(entry) {
  return path.basename(entry).replace(/\.[cm]?[jt]s$/, '');
}

/**
 * Builds `entryPoints` of the package at `root` into `outdir` (replacing it).
 * Returns the stamp written as outdir/build.json.
 */
export async function build({ root = ROOT, outdir = path.join(root, 'dist'), entryPoints = ENTRY_POINTS } = {}) {
  const names = entryPoints.map(outName);
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice) throw new Error(`two entry points would both be dist/${twice}.js: rename one`);
  // Fingerprint first: an edit made while esbuild reads makes the stamp older
  // than the sources (bin/ then runs the sources), never the other way round.
  const fingerprint = sourceFingerprint(root);
  const temp = `${outdir}.tmp-${process.pid}`;
  await rm(temp, { recursive: true, force: true });
  try {
    const result = await esbuild.build({
      absWorkingDir: root,
      entryPoints: entryPoints.map((entry) => ({ in: entry, out: outName(entry) })),
      outdir: temp,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      chunkNames: 'chunk-[hash]',
      minifyWhitespace: true,
      minifySyntax: true,
      sourcemap: 'linked',
      legalComments: 'eof',
      charset: 'ascii',
      banner: { js: BANNER },
      metafile: true,
      logLevel: 'warning',
    });
    assertNoLazyPackages(result.metafile);
    await assertOneByte(Object.keys(result.metafile.outputs).filter((file) => file.endsWith('.js')), root);
    for (const [from, to] of COPIED) await cp(path.join(root, from), path.join(temp, to), { recursive: true });
    const stamp = {
      fingerprint,
      builtAt: new Date().toISOString(),
      entries: Object.fromEntries(names.map((name) => [name, `${name}.js`])),
      esbuild: esbuild.version,
      node: process.version,
    };
    await writeFile(path.join(temp, STAMP_FILE), `${JSON.stringify(stamp, null, 2)}\n`);
    const old = `${outdir}.old-${process.pid}`;
    await mkdir(path.dirname(outdir), { recursive: true });
    await rename(outdir, old).catch((error) => {
      if (error.code !== 'ENOENT') throw error;
    });
    await rename(temp, outdir);
    await rm(old, { recursive: true, force: true });
    return stamp;
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

/**
 * `await import('pkg')` of a CommonJS package works from the sources (Node
 * gives it named exports) but in the bundle the chunk has only `default`:
 * `const { generate } = await import('selfsigned')` is undefined there. Our
 * code lazy-loads a package through a module of its own that imports the
 * package statically (src/smtp/self-signed-pair.ts), so refuse the other way.
 */
function assertNoLazyPackages(metafile) {
  const found = [];
  for (const [file, input] of Object.entries(metafile.inputs)) {
    if (file.includes('node_modules/')) continue;
    for (const imported of input.imports) {
      if (imported.kind === 'dynamic-import' && imported.path.includes('node_modules/')) found.push(`${file}: import('${imported.original ?? imported.path}')`);
    }
  }
  if (found.length > 0) throw new Error(`lazy-load a package through a module of ours that imports it statically:\n  ${found.join('\n  ')}`);
}

/**
 * V8 keeps each loaded chunk's source text in memory, one byte per character
 * unless a single character is outside Latin-1, and then two for all of them.
 * charset 'ascii' escapes such characters in code; a legal comment could still
 * carry one, so check rather than hope.
 */
async function assertOneByte(files, root) {
  for (const file of files) {
    const text = await readFile(path.resolve(root, file), 'utf8');
    const at = text.search(/[\u{100}-\u{10ffff}]/u);
    if (at >= 0) throw new Error(`${file}: a character outside Latin-1 at offset ${at} (${JSON.stringify(text.slice(Math.max(0, at - 30), at + 10))}) would double its memory`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { outdir: { type: 'string' } } });
  const started = Date.now();
  const outdir = values.outdir ? path.resolve(values.outdir) : undefined;
  const stamp = await build(outdir ? { outdir } : {});
  console.log(`built ${path.relative(process.cwd(), outdir ?? path.join(ROOT, 'dist')) || '.'}/ (${Object.values(stamp.entries).join(', ')}) in ${Date.now() - started} ms`);
}

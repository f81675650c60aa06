// Where a worker_threads entry file is, whichever copy of the code is running:
//
//   new Worker(workerEntryUrl('delivery/delivery-worker.ts'), { workerData })
//
// `source` is the entry's path under src/, and the same path must be listed in
// ENTRY_POINTS in scripts/build.js (test/build checks every call in src/).
//
// - From dist/ (the production build), this module is bundled into a chunk in
//   dist/ and every entry point is dist/<file name>.js next to it: the URL
//   is that file. `new URL('./x.ts', import.meta.url)` written in the calling
//   module would name a file that does not exist there.
// - From the sources (tsx), a worker does not inherit the loader that bin/
//   registered in the main thread (Node 20), so it could not load a .ts file.
//   The URL is then a small ESM module (a data: URL) that registers tsx in
//   the worker and imports the entry. RELAYGUARD_TS_LOADER, when set, names
//   another module with the same register() export to use instead: `npm test`
//   sets it to its own loader (scripts/ts-loader/register.js), which reads
//   the sources transpiled once for the whole run where tsx would cost each
//   worker ~0.3 s of CPU more.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** True when this module runs from the sources (through tsx), false in dist/. */
export function runningFromSources(): boolean {
  return import.meta.url.endsWith('.ts');
}

export function workerEntryUrl(source: string): URL {
  if (!source.endsWith('.ts') || path.isAbsolute(source)) throw new Error(`workerEntryUrl: "${source}" must be a .ts path relative to src/`);
  if (runningFromSources()) {
    const entry = new URL(`../${source}`, import.meta.url);
    const loader = process.env.RELAYGUARD_TS_LOADER || import.meta.resolve('tsx/esm/api');
    const bootstrap = `import { register } from ${JSON.stringify(loader)};\nregister();\nawait import(${JSON.stringify(entry.href)});\n`;
    return new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`);
  }
  const built = new URL(`./${path.basename(source, '.ts')}.js`, import.meta.url);
  if (!existsSync(fileURLToPath(built))) {
    throw new Error(`worker entry ${fileURLToPath(built)} is not in the build: add '${path.posix.join('src', source)}' to ENTRY_POINTS in scripts/build.js`);
  }
  return built;
}

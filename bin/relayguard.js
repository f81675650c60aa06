#!/usr/bin/env node
// The installed command. It runs one of two copies of the same code:
//   dist/         the production build (`npm run build`, done by `npm start`),
//                 used only when dist/build.json records a fingerprint of
//                 exactly the sources here now (scripts/build-stamp.js);
//   the sources   src/cli/main.ts through tsx's loader, so an edit runs at
//                 once without a build (~45 MiB more RSS: BENCHMARKS.md).
// So a dist/ older than the sources is never run: the sources are, with a
// note on stderr. RELAYGUARD_RUN chooses:
//   auto     (default) dist/ when it is up to date, else the sources
//   dist     dist/ or nothing: exit 1 if it is missing or out of date
//            (a service that must run the build it was deployed with)
//   sources  always the sources (the tests; debugging with stack traces in src/)
// An installed package (`npm pack` then `npm install`: no src/, no tsx, whose
// dist/ was built by `prepack`) always runs its dist/, whatever the stamp says.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { distStatus } from '../scripts/build-stamp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const wanted = process.env.RELAYGUARD_RUN || 'auto';

async function cli() {
  if (!['auto', 'dist', 'sources'].includes(wanted)) {
    process.stderr.write(`relayguard: RELAYGUARD_RUN must be auto, dist or sources, not "${wanted}"\n`);
    process.exit(2);
  }
  if (wanted !== 'sources') {
    const dist = distStatus(root);
    if (dist.usable) return import(pathToFileURL(dist.main).href);
    if (dist.installed) {
      // An installed package ships dist/ and no sources (and no tsx to run them).
      process.stderr.write(`relayguard: this installed package has no dist/ build in ${root}: reinstall it from a tarball made by \`npm pack\` (which builds dist/)\n`);
      process.exit(1);
    }
    const why = dist.reason === 'stale' ? 'dist/ is out of date with the sources' : 'there is no dist/';
    if (wanted === 'dist') {
      process.stderr.write(`relayguard: RELAYGUARD_RUN=dist but ${why}: run \`npm run build\` in ${root}\n`);
      process.exit(1);
    }
    // Only a stale build is worth a word: no dist/ at all is the ordinary development checkout.
    if (dist.reason === 'stale') process.stderr.write(`relayguard: ${why}, running the sources (\`npm run build\` to update it)\n`);
  }
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    process.stderr.write(`relayguard: running the sources needs tsx (a development dependency): run \`npm ci\` in ${root}, or \`npm run build\` and RELAYGUARD_RUN=dist\n`);
    process.exit(1);
  }
  register();
  return import('../src/cli/main.ts');
}

const { runCli } = await cli();
process.exitCode = await runCli(process.argv.slice(2));

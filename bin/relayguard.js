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
    const why = dist.reason === 'stale' ? 'dist/ is out of date with the sources' : 'there is no dist/';
    if (wanted === 'dist') {
      process.stderr.write(`relayguard: RELAYGUARD_RUN=dist but ${why}: run \`npm run build\` in ${root}\n`);
      process.exit(1);
    }
    // Only a stale build is worth a word: no dist/ at all is the ordinary development checkout.
    if (dist.reason === 'stale') process.stderr.write(`relayguard: ${why}, running the sources (\`npm run build\` to update it)\n`);
  }
  const { register } = await import('tsx/esm/api');
  register();
  return import('../src/cli/main.ts');
}

const { runCli } = await cli();
process.exitCode = await runCli(process.argv.slice(2));

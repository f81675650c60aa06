// The package's version, for `relayguard --version`. package.json is found by
// walking up from this module: it is ../../package.json from src/cli/ (the
// sources) and ../package.json from dist/ (the build), where this code is
// bundled into a chunk one level below the package.
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  let dir = new URL('.', import.meta.url);
  for (let depth = 0; depth < 4; depth++, dir = new URL('..', dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'relayguard' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // none here (or not ours): one level up
    }
  }
  return 'unknown';
}

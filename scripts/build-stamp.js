// Is dist/ a build of exactly these sources? Shared by the build
// (scripts/build.js writes the stamp) and the command (bin/relayguard.js reads
// it before choosing dist/ or the sources), so both compute the same thing.
//
// The stamp is a SHA-256 over the content of every input of the build: all of
// src/ (code and the dashboard's assets), package.json and package-lock.json
// (the exact dependencies `npm ci` installs), tsconfig.json, and the build
// scripts themselves. Content, not modification times: a checkout, a rebase
// or a copy changes mtimes without changing code, and an edit undone keeps a
// new mtime; only a content hash says "this dist/ was built from this code".
// Hashing ~1 MB of sources takes a few milliseconds per start.
//
// Plain JavaScript on purpose: it runs before tsx is loaded (or without it).
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** Files and folders (relative to the package root) whose content makes a build. */
export const BUILD_INPUTS = ['src', 'package.json', 'package-lock.json', 'tsconfig.json', 'scripts/build.js', 'scripts/build-stamp.js'];

/** dist/STAMP_FILE: JSON { fingerprint, builtAt, entries, ... }, written last by the build. */
export const STAMP_FILE = 'build.json';

/** Files under `input` (a file or a folder), relative to `root`; symbolic links are followed. */
function filesOf(root, input) {
  const full = path.join(root, input);
  let entries;
  try {
    entries = readdirSync(full, { withFileTypes: true });
  } catch (error) {
    if (error.code === 'ENOTDIR') return [input];
    if (error.code === 'ENOENT') return [];
    throw error;
  }
  return entries.flatMap((entry) => {
    const child = path.join(input, entry.name);
    return entry.isDirectory() || entry.isSymbolicLink() ? filesOf(root, child) : entry.isFile() ? [child] : [];
  });
}

/** SHA-256 (hex) of the build's inputs under `root`: their relative paths and contents, in a fixed order. */
export function sourceFingerprint(root) {
  const files = BUILD_INPUTS.flatMap((input) => filesOf(root, input))
    .map((file) => file.split(path.sep).join('/'))
    .sort();
  const hash = createHash('sha256');
  for (const file of files) {
    const content = readFileSync(path.join(root, file));
    // Length-prefixed, so no two different file sets hash alike.
    hash.update(`${file}\0${content.length}\0`);
    hash.update(content);
  }
  return hash.digest('hex');
}

/** Is `root` a checkout (src/ is there) rather than an installed package (dist/ only)? */
export function hasSources(root) {
  try {
    return readdirSync(path.join(root, 'src')).length > 0;
  } catch (error) {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return false;
    throw error;
  }
}

/** The stamp of `distDir`, or undefined when there is none (never built, or a build that did not finish). */
export function readStamp(distDir) {
  try {
    return JSON.parse(readFileSync(path.join(distDir, STAMP_FILE), 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Can the command run `<root>/dist`? { usable: true, main } with the path of
 * dist's CLI module, or { usable: false, reason } with reason 'missing' (no
 * build) or 'stale' (built from other sources than the ones here now).
 * `installed` is true in an installed package (no src/): its dist/ is used
 * as it is, and without one there is nothing to run.
 */
export function distStatus(root) {
  const distDir = path.join(root, 'dist');
  const stamp = readStamp(distDir);
  const main = stamp?.entries?.main;
  const installed = !hasSources(root);
  if (typeof main !== 'string') return { usable: false, reason: 'missing', installed };
  // An installed package (`npm pack`, then `npm install`) has no src/ and no
  // package-lock.json: there is nothing to compare with, dist/ is the only copy.
  if (installed) return { usable: true, main: path.join(distDir, main), installed };
  if (stamp.fingerprint !== sourceFingerprint(root)) return { usable: false, reason: 'stale' };
  return { usable: true, main: path.join(distDir, main) };
}

// Watches directories, not files: editors and deploy tools replace a file by
// writing a temporary one and renaming it over the original, which leaves a
// watch on the old inode silent. A directory watch sees the rename under the
// final name. Only the names asked for are reported (swap files, `file~` and
// `.tmp` names are ignored).
import { watch, type FSWatcher } from 'node:fs';

export interface WatchTarget {
  readonly dir: string;
  readonly names: ReadonlySet<string>;
}

export interface DirectoryWatcher {
  /** Watches exactly these targets from now on (adds and drops directories as needed). */
  update(targets: readonly WatchTarget[]): void;
  close(): void;
}

export function createDirectoryWatcher(
  onChange: (name: string) => void,
  onError: (dir: string, error: Error) => void,
): DirectoryWatcher {
  const watchers = new Map<string, { watcher: FSWatcher; names: ReadonlySet<string> }>();

  const stop = (dir: string): void => {
    watchers.get(dir)?.watcher.close();
    watchers.delete(dir);
  };

  return {
    update(targets) {
      const wanted = new Map<string, Set<string>>();
      for (const { dir, names } of targets) {
        const set = wanted.get(dir) ?? new Set<string>();
        for (const name of names) set.add(name);
        wanted.set(dir, set);
      }
      for (const dir of [...watchers.keys()]) if (!wanted.has(dir)) stop(dir);
      for (const [dir, names] of wanted) {
        const existing = watchers.get(dir);
        if (existing) {
          watchers.set(dir, { watcher: existing.watcher, names });
          continue;
        }
        try {
          const watcher = watch(dir, { persistent: false }, (_event, filename) => {
            const current = watchers.get(dir);
            // Some platforms give no file name: treat it as a change to any file.
            if (!filename) onChange('(unknown file)');
            else if (current?.names.has(filename.toString())) onChange(filename.toString());
          });
          watcher.on('error', (error) => {
            stop(dir);
            onError(dir, error);
          });
          watchers.set(dir, { watcher, names });
        } catch (error) {
          onError(dir, error as Error);
        }
      }
    },
    close() {
      for (const dir of [...watchers.keys()]) stop(dir);
    },
  };
}

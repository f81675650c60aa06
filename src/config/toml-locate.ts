// smol-toml gives values without positions, so schema errors are mapped back to
// lines by walking the text: table headers ([a.b], [[a]]) and `key =` lines.
// Good enough for hand-written config files; falls back to the nearest table.

type PathPart = string | number;

function splitKey(raw: string): string[] {
  return raw.split('.').map((part) => part.trim().replace(/^["']|["']$/g, ''));
}

/** Returns the 1-based line that defines `path` in TOML `text`, or 0 if not found. */
export function locateTomlPath(text: string, path: readonly PathPart[]): number {
  const lines = text.split(/\r?\n/);
  const arrayCounts = new Map<string, number>();
  let table: PathPart[] = [];
  let best = 0;
  let bestDepth = -1;

  const consider = (candidate: PathPart[], line: number): void => {
    let depth = 0;
    while (depth < candidate.length && depth < path.length && String(candidate[depth]) === String(path[depth])) depth++;
    if (depth === candidate.length && depth > bestDepth) {
      best = line;
      bestDepth = depth;
    }
  };

  lines.forEach((rawLine, index) => {
    const line = rawLine.trim();
    const lineNo = index + 1;
    let match = /^\[\[\s*([^\]]+?)\s*\]\]/.exec(line);
    if (match) {
      const key = splitKey(match[1] as string);
      const joined = key.join('.');
      const position = arrayCounts.get(joined) ?? 0;
      arrayCounts.set(joined, position + 1);
      table = [...key, position];
      consider(table, lineNo);
      return;
    }
    match = /^\[\s*([^\]]+?)\s*\]/.exec(line);
    if (match) {
      table = splitKey(match[1] as string);
      consider(table, lineNo);
      return;
    }
    match = /^([A-Za-z0-9_\-."' ]+?)\s*=/.exec(line);
    if (match) consider([...table, ...splitKey(match[1] as string)], lineNo);
  });
  return best > 0 ? best : bestDepth === -1 ? 0 : best;
}

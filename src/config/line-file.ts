// The shared reader of line-oriented policy files (relay-networks, allowlist,
// denylist, local-domains): one entry per line, `#` starts a comment anywhere
// on a line, blank lines are skipped. Files written on Windows (CRLF, a BOM)
// read the same as Unix ones, and line numbers stay those an editor shows.

export interface FileLine {
  /** 1-based, as an editor shows it. */
  readonly line: number;
  /** The line without its comment, trimmed; never empty. */
  readonly text: string;
}

export function readEntryLines(text: string): FileLine[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  const entries: FileLine[] = [];
  lines.forEach((raw, index) => {
    const hash = raw.indexOf('#');
    const content = (hash === -1 ? raw : raw.slice(0, hash)).trim();
    if (content) entries.push({ line: index + 1, text: content });
  });
  return entries;
}

/** Splits an entry line at the first run of whitespace: the entry, then the rest (maybe ''). */
export function splitFirstWord(text: string): { readonly word: string; readonly rest: string } {
  // A loop rather than a regular expression: lists run to 100,000 lines.
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 32 || code === 9 || code === 11 || code === 12) return { word: text.slice(0, i), rest: text.slice(i + 1).trim() };
  }
  return { word: text, rest: '' };
}
